"""calls: phone numbers (inbound routing) and call recordings

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-28 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = commbase.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("friendly_name", sa.String(length=100), nullable=True),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("answer_mode", sa.String(length=20), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=True),
        sa.Column("connect_url", sa.String(length=500), nullable=True),
        sa.Column("member_user_id", sa.String(length=40), nullable=True),
        sa.Column("forward_to", sa.String(length=20), nullable=True),
        sa.Column("after_hours_action", sa.String(length=20), nullable=False),
        sa.Column("after_hours_greeting", sa.String(length=500), nullable=True),
        sa.Column("after_hours_forward_to", sa.String(length=20), nullable=True),
        sa.Column("privacy_mode", sa.Boolean(), nullable=False),
        sa.Column("inbound_rate_per_minute", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("voice", sa.String(length=60), nullable=True),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("provider_state", JSON, nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_phone_numbers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("provider", "number", name=op.f("uq_phone_numbers_provider_number")),
    )
    op.create_index(
        "ix_phone_numbers_org_created", "phone_numbers", ["org_id", "created_at"], unique=False
    )
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_recording_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("started_at", UTC(timezone=True), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_call_recordings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_recordings_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_recordings")),
        sa.UniqueConstraint(
            "provider",
            "provider_recording_id",
            name=op.f("uq_call_recordings_provider_provider_recording_id"),
        ),
    )
    op.create_index(
        "ix_call_recordings_org_call", "call_recordings", ["org_id", "call_id"], unique=False
    )
    op.create_index(
        "ix_call_recordings_org_created",
        "call_recordings",
        ["org_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_call_recordings_org_created", table_name="call_recordings")
    op.drop_index("ix_call_recordings_org_call", table_name="call_recordings")
    op.drop_table("call_recordings")
    op.drop_index("ix_phone_numbers_org_created", table_name="phone_numbers")
    op.drop_table("phone_numbers")
