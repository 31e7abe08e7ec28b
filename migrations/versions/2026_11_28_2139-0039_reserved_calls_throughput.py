"""reserved: calls_throughput (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0039
Revises: 0038
Create Date: 2026-11-28 21:00:00
"""

from collections.abc import Sequence

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
