"""reserved: web (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0046
Revises: 0045
Create Date: 2026-11-29 00:34:00
"""

from collections.abc import Sequence

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
