"""reserved: ingest (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0056
Revises: 0055
Create Date: 2026-11-29 10:31:00
"""

from collections.abc import Sequence

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
