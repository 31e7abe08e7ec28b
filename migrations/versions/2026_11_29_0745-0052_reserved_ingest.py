"""reserved: ingest (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0052
Revises: 0051
Create Date: 2026-11-29 07:45:00
"""

from collections.abc import Sequence

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
