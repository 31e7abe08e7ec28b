"""video rooms: rooms on calls of kind video, their participants and quality samples

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-28 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = commbase.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "video_rooms",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("created_by_user_id", sa.String(length=40), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("customer_name", sa.String(length=100), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("waiting_started_at", UTC, nullable=True),
        sa.Column("agent_joined_at", UTC, nullable=True),
        sa.Column("connected_at", UTC, nullable=True),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("waiting_seconds", sa.Integer(), nullable=True),
        sa.Column("response_seconds", sa.Integer(), nullable=True),
        sa.Column("reconnections", sa.Integer(), nullable=False),
        sa.Column("screen_share_used", sa.Boolean(), nullable=False),
        sa.Column("screen_share_seconds", sa.Integer(), nullable=False),
        sa.Column("quality_samples", sa.Integer(), nullable=False),
        sa.Column("problem_solved", sa.Boolean(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("wrap_up_notes", sa.Text(), nullable=True),
        sa.Column("wrapped_up_at", UTC, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_video_rooms_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_video_rooms_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_rooms")),
    )
    op.create_index("ix_video_rooms_org_created", "video_rooms", ["org_id", "created_at"])
    op.create_index("ix_video_rooms_org_call", "video_rooms", ["org_id", "call_id"])
    op.create_table(
        "video_participants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_expires_at", UTC, nullable=False),
        sa.Column("joined_at", UTC, nullable=False),
        sa.Column("left_at", UTC, nullable=True),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("reconnections", sa.Integer(), nullable=False),
        sa.Column("connected_at", UTC, nullable=True),
        sa.Column("screen_share_started_at", UTC, nullable=True),
        sa.Column("screen_share_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_video_participants_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["video_rooms.id"],
            name=op.f("fk_video_participants_room_id_video_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_participants")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_video_participants_token_hash")),
    )
    op.create_index("ix_video_participants_org_room", "video_participants", ["org_id", "room_id"])
    op.create_index("ix_video_participants_org_user", "video_participants", ["org_id", "user_id"])
    op.create_table(
        "video_quality_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("participant_id", sa.String(length=40), nullable=False),
        sa.Column("rtt_ms", sa.Integer(), nullable=True),
        sa.Column("jitter_ms", sa.Integer(), nullable=True),
        sa.Column("packet_loss", sa.Double(), nullable=True),
        sa.Column("bitrate_kbps", sa.Integer(), nullable=True),
        sa.Column("frame_width", sa.Integer(), nullable=True),
        sa.Column("frame_height", sa.Integer(), nullable=True),
        sa.Column("fps", sa.Double(), nullable=True),
        sa.Column("mos", sa.Double(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_video_quality_samples_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["video_rooms.id"],
            name=op.f("fk_video_quality_samples_room_id_video_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_quality_samples")),
    )
    op.create_index(
        "ix_video_quality_samples_org_room", "video_quality_samples", ["org_id", "room_id"]
    )


def downgrade() -> None:
    op.drop_table("video_quality_samples")
    op.drop_table("video_participants")
    op.drop_table("video_rooms")
