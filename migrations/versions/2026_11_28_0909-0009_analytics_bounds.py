"""analytics bounds: custom metric fold failures are recorded; lab token counts are 64-bit

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 09:09:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("custom_metrics") as batch:
        batch.add_column(sa.Column("rollup_error", sa.String(length=500), nullable=True))
        batch.add_column(
            sa.Column(
                "rollup_failed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("lab_experiments") as batch:
        batch.alter_column(
            "tokens_used",
            existing_type=sa.Integer(),
            type_=sa.BigInteger(),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("lab_experiments") as batch:
        batch.alter_column(
            "tokens_used",
            existing_type=sa.BigInteger(),
            type_=sa.Integer(),
            existing_nullable=True,
        )
    with op.batch_alter_table("custom_metrics") as batch:
        batch.drop_column("rollup_failed_at")
        batch.drop_column("rollup_error")
