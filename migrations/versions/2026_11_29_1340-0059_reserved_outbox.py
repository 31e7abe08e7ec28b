"""reserved: outbox (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0059
Revises: 0058
Create Date: 2026-11-29 13:40:00
"""

from collections.abc import Sequence

revision: str = "0059"
down_revision: str | None = "0058"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
