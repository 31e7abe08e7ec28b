"""reserved: core (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0058
Revises: 0057
Create Date: 2026-11-29 10:33:00
"""

from collections.abc import Sequence

revision: str = "0058"
down_revision: str | None = "0057"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
