"""reserved: messaging (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0044
Revises: 0043
Create Date: 2026-11-29 00:32:00
"""

from collections.abc import Sequence

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
