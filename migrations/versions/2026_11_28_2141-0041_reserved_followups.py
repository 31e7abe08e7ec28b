"""follow-ups: video guest link revocation (a per-room link generation); video quality
samples indexed by organization and age for their retention

Revision ID: 0041
Revises: 0040
Create Date: 2026-11-28 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = commbase.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("video_rooms") as batch:
        batch.add_column(
            sa.Column("guest_link_generation", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("guest_links_revoked_at", UTC, nullable=True))
    op.create_index(
        "ix_video_quality_samples_org_created",
        "video_quality_samples",
        ["org_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_video_quality_samples_org_created", table_name="video_quality_samples")
    with op.batch_alter_table("video_rooms") as batch:
        batch.drop_column("guest_links_revoked_at")
        batch.drop_column("guest_link_generation")
