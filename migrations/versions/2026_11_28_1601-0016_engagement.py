"""engagement: publishable keys, intake access tokens, support tickets, consultations

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "publishable_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "allowed_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("revoked_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_publishable_keys_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_publishable_keys_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishable_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_publishable_keys_key_hash")),
    )
    op.create_index(
        "ix_publishable_keys_org_status", "publishable_keys", ["org_id", "status"], unique=False
    )
    op.create_table(
        "intake_access_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("publishable_key_id", sa.String(length=40), nullable=True),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_intake_access_tokens_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publishable_key_id"],
            ["publishable_keys.id"],
            name=op.f("fk_intake_access_tokens_publishable_key_id_publishable_keys"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_intake_access_tokens_token_hash")),
    )
    op.create_index(
        "ix_intake_access_tokens_org_record",
        "intake_access_tokens",
        ["org_id", "record_type", "record_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_intake_access_tokens_org_record", table_name="intake_access_tokens")
    op.drop_table("intake_access_tokens")
    op.drop_index("ix_publishable_keys_org_status", table_name="publishable_keys")
    op.drop_table("publishable_keys")
