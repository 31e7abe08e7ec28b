"""reserved: ingest (no-op placeholder kept so one Alembic chain stays linear)

Revision ID: 0048
Revises: 0047
Create Date: 2026-11-29 04:41:00
"""

from collections.abc import Sequence

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
