"""reserved: messaging (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0047
Revises: 0046
Create Date: 2026-11-29 04:40:00
"""

from collections.abc import Sequence

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
