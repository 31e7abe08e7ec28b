"""reserved: live (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0043
Revises: 0042
Create Date: 2026-11-29 00:31:00
"""

from collections.abc import Sequence

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
