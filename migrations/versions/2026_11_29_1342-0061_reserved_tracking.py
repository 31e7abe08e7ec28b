"""reserved: tracking (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0061
Revises: 0060
Create Date: 2026-11-29 13:42:00
"""

from collections.abc import Sequence

revision: str = "0061"
down_revision: str | None = "0060"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
