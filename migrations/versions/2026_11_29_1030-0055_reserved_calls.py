"""reserved: calls (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0055
Revises: 0054
Create Date: 2026-11-29 10:30:00
"""

from collections.abc import Sequence

revision: str = "0055"
down_revision: str | None = "0054"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
