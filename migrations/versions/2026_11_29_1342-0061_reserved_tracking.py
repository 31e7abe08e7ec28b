"""tracked events: received_at defaults to the batch's stated time (PostgreSQL)

Ingest no longer copies ``received_at`` row by row (encoding a timestamptz cost
asyncpg about 0.6 us of client CPU a row): it states the batch's
time once per transaction (``SET LOCAL commbase.received_at``, ``tracking.
copying.begin``) and the column's default reads it, falling back to the
transaction's ``now()`` where it is not set (or set empty, as a custom setting is
after its transaction). SQLite's ingest still writes the column itself: nothing
changes there.

Revision ID: 0061
Revises: 0060
Create Date: 2026-11-29 13:42:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0061"
down_revision: str | None = "0060"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# On a partitioned table ALTER ... SET DEFAULT applies to the parent, which rows
# routed through it take, and to every partition.
_DEFAULT = (
    "COALESCE(CAST(NULLIF(current_setting('commbase.received_at', true), '') "
    "AS timestamptz), now())"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE tracked_events ALTER COLUMN received_at SET DEFAULT {_DEFAULT}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE tracked_events ALTER COLUMN received_at DROP DEFAULT")
