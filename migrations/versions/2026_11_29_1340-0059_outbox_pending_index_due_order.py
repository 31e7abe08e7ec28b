"""outbox: a pending index of the deliveries not done, in the order they come due

Every event writes one ``outbox_deliveries`` row per consumer that hears it; a
call writes seven. A completed delivery is now deleted (``outbox_claims``) rather
than marked done, so the table holds the work in flight and a row is written twice
(recorded, leased) instead of three times.

``ix_outbox_deliveries_pending`` is now ``(consumer, available_at, id) WHERE
done_at IS NULL`` instead of ``(consumer, done_at, available_at)``: it holds only
rows not done (a delivery a consumer gave up on leaves it), and a claim reads it in
the order it claims (due first, then recorded first), stopping after its limit --
rows leased or backing off before a retry sort after the due ones, however many.

Revision ID: 0059
Revises: 0058
Create Date: 2026-11-29 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0059"
down_revision: str | None = "0058"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_DONE = sa.text("done_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_deliveries_pending")
        batch_op.create_index(
            "ix_outbox_deliveries_pending",
            ["consumer", "available_at", "id"],
            unique=False,
            postgresql_where=_NOT_DONE,
            sqlite_where=_NOT_DONE,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_deliveries_pending")
        batch_op.create_index(
            "ix_outbox_deliveries_pending", ["consumer", "done_at", "available_at"], unique=False
        )
