"""reserved: conversations (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0057
Revises: 0056
Create Date: 2026-11-29 10:32:00
"""

from collections.abc import Sequence

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
