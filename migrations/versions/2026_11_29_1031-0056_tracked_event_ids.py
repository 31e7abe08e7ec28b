"""tracked event ids: the client-chosen ids of stored events, one row per id

``tracked_event_ids`` (primary key ``(org_id, event_id)``, unpartitioned) lets
PostgreSQL ingest refuse an id replayed with another timestamp without locks or a
lookup across the monthly partitions of ``tracked_events`` (``tracking.events``).
On PostgreSQL it is filled from every stored event (generated ``evt_`` ids too:
harmless, and retention deletes them with their events); SQLite dedups on
``tracked_events``' own unique key and leaves it empty.

Revision ID: 0056
Revises: 0055
Create Date: 2026-11-29 10:31:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracked_event_ids",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "event_id", name=op.f("pk_tracked_event_ids")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "INSERT INTO tracked_event_ids (org_id, event_id) "
        "SELECT DISTINCT org_id, event_id FROM tracked_events"
    )


def downgrade() -> None:
    op.drop_table("tracked_event_ids")
