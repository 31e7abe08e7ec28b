"""reserved: dashboard (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0053
Revises: 0052
Create Date: 2026-11-29 07:46:00
"""

from collections.abc import Sequence

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
