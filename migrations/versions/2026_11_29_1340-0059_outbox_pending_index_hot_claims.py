"""outbox: a pending index of the deliveries not done, HOT lease updates

Every event writes one ``outbox_deliveries`` row per consumer that hears it; a
call writes seven. Each was written three times (recorded, leased, marked done),
and the lease and the done mark each changed a column of the pending index
``(consumer, done_at, available_at)``, so neither could be a HOT update: every
version went into all three indexes.

* ``ix_outbox_deliveries_pending`` is now ``(consumer, id) WHERE done_at IS NULL``:
  a claim walks its consumer's rows not done in id order (the order it claims in,
  so it stops after ``limit`` rows instead of reading and sorting every due one),
  skipping rows leased or waiting for a retry. No lease column is indexed, so a
  claim, a renewal or a release is a HOT update when the row's page has room.
* On PostgreSQL ``fillfactor`` 50 leaves each page that room: the table holds
  only the work in flight (a completed delivery is deleted, ``outbox_claims``),
  so the space costs little.

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

DELIVERIES_FILLFACTOR = 50
_NOT_DONE = sa.text("done_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_deliveries_pending")
        batch_op.create_index(
            "ix_outbox_deliveries_pending",
            ["consumer", "id"],
            unique=False,
            postgresql_where=_NOT_DONE,
            sqlite_where=_NOT_DONE,
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE outbox_deliveries SET (fillfactor = {DELIVERIES_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox_deliveries RESET (fillfactor)")
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_deliveries_pending")
        batch_op.create_index(
            "ix_outbox_deliveries_pending", ["consumer", "done_at", "available_at"], unique=False
        )
