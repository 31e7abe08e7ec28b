"""video rooms: agent participants by credential, disconnection times, running quality totals, 64-bit sample ids

Revision ID: 0037
Revises: 0036
Create Date: 2026-11-28 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = commbase.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("video_participants") as batch:
        batch.add_column(sa.Column("credential_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("disconnected_at", UTC, nullable=True))
    with op.batch_alter_table("video_rooms") as batch:
        batch.add_column(sa.Column("last_together_at", UTC, nullable=True))
        batch.add_column(
            sa.Column(
                "quality_totals",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=False,
                server_default="{}",
            )
        )

    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "video_quality_samples", "id", type_=sa.BigInteger(), existing_type=sa.Integer()
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "video_quality_samples", "id", type_=sa.Integer(), existing_type=sa.BigInteger()
        )
    with op.batch_alter_table("video_rooms") as batch:
        batch.drop_column("quality_totals")
        batch.drop_column("last_together_at")
    with op.batch_alter_table("video_participants") as batch:
        batch.drop_column("disconnected_at")
        batch.drop_column("credential_id")
