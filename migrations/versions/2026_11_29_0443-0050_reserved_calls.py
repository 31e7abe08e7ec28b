"""reserved: calls (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0050
Revises: 0049
Create Date: 2026-11-29 04:43:00
"""

from collections.abc import Sequence

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
