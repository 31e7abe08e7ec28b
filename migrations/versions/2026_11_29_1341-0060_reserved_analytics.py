"""reserved: analytics (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0060
Revises: 0059
Create Date: 2026-11-29 13:41:00
"""

from collections.abc import Sequence

revision: str = "0060"
down_revision: str | None = "0059"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
