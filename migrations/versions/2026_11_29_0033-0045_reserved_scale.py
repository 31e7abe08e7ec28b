"""reserved: scale (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0045
Revises: 0044
Create Date: 2026-11-29 00:33:00
"""

from collections.abc import Sequence

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
