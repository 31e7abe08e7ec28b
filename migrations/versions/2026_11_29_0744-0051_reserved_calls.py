"""reserved: calls (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0051
Revises: 0050
Create Date: 2026-11-29 07:44:00
"""

from collections.abc import Sequence

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
