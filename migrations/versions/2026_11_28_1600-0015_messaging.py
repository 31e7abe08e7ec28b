"""messaging: channel accounts, conversations, messages, notes, opt-outs

Tables for ``commbase.messaging``. Message text is searchable: on PostgreSQL a
GIN index over ``to_tsvector('simple', body)``; on SQLite the FTS5 table
``messages_fts`` (tokenizer ``unicode61 remove_diacritics 2``), whose rows the
service keeps in step, with row ids derived from message ids (see
``commbase.messaging.fulltext``). Campaigns come in revision 0018;
``messages.campaign_id`` has no foreign key for that reason.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column(
            "business_hours",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("phone_number_id", sa.String(length=64), nullable=True),
        sa.Column("display_phone_number", sa.String(length=32), nullable=True),
        sa.Column("business_account_id", sa.String(length=64), nullable=True),
        sa.Column("app_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("verify_token", sa.String(length=200), nullable=True),
        sa.Column("send_rate_per_minute", sa.Integer(), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_channel_accounts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_accounts")),
        sa.UniqueConstraint(
            "kind", "phone_number_id", name=op.f("uq_channel_accounts_kind_phone_number_id")
        ),
        sa.UniqueConstraint("verify_token", name=op.f("uq_channel_accounts_verify_token")),
    )
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_channel_accounts_org_created", ["org_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_channel_accounts_org_kind", ["org_id", "kind"], unique=False)

    op.create_table(
        "messaging_opt_outs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=True),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_messaging_opt_outs_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_opt_outs")),
        sa.UniqueConstraint(
            "org_id", "contact_id", name=op.f("uq_messaging_opt_outs_org_id_contact_id")
        ),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("active_contact_key", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("session_id", sa.String(length=200), nullable=True),
        sa.Column("client_phone", sa.String(length=20), nullable=True),
        sa.Column("client_email", sa.String(length=320), nullable=True),
        sa.Column("client_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("snoozed_until", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("assignee_user_id", sa.String(length=40), nullable=True),
        sa.Column("assignee_agent_session_id", sa.String(length=40), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("first_inbound_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_inbound_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("resolved_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("last_activity_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("inbound_count", sa.Integer(), nullable=False),
        sa.Column("outbound_count", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=40), nullable=True),
        sa.Column("sentiment", sa.String(length=10), nullable=True),
        sa.Column("sentiment_score", sa.Double(), nullable=True),
        sa.Column("lead_score", sa.Integer(), nullable=True),
        sa.Column("conversion_probability", sa.Double(), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("sale_amount", sa.BigInteger(), nullable=True),
        sa.Column("sale_currency", sa.String(length=3), nullable=True),
        sa.Column(
            "booking_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("escalated_to_human", sa.Boolean(), nullable=False),
        sa.Column("satisfaction_rating", sa.Integer(), nullable=True),
        sa.Column("satisfaction_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_conversations_account_id_channel_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_conversations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "account_id",
            "active_contact_key",
            name=op.f("uq_conversations_account_id_active_contact_key"),
        ),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_org_account", ["org_id", "account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_org_assignee", ["org_id", "assignee_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_org_contact", ["org_id", "contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_org_created", ["org_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_org_last_activity", ["org_id", "last_activity_at"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_org_resolved", ["org_id", "resolved_at"], unique=False
        )
        batch_op.create_index("ix_conversations_org_status", ["org_id", "status"], unique=False)
        batch_op.create_index(
            "ix_conversations_org_updated", ["org_id", "updated_at"], unique=False
        )

    op.create_table(
        "conversation_notes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("author_user_id", sa.String(length=40), nullable=True),
        sa.Column("author_agent_session_id", sa.String(length=40), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_conversation_notes_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_notes")),
    )
    with op.batch_alter_table("conversation_notes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_notes_org_conversation", ["org_id", "conversation_id"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("author_role", sa.String(length=10), nullable=False),
        sa.Column("sender_user_id", sa.String(length=40), nullable=True),
        sa.Column("sender_agent_session_id", sa.String(length=40), nullable=True),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("media_url", sa.String(length=2048), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("media_size", sa.BigInteger(), nullable=True),
        sa.Column("template_name", sa.String(length=200), nullable=True),
        sa.Column("template_language", sa.String(length=16), nullable=True),
        sa.Column(
            "template_parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reply_to_message_id", sa.String(length=40), nullable=True),
        sa.Column("campaign_id", sa.String(length=40), nullable=True),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("queued_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replied_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claim_expires_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("erased_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_messages_account_id_channel_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_messages_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "account_id",
            "provider_message_id",
            name=op.f("uq_messages_account_id_provider_message_id"),
        ),
        sa.UniqueConstraint(
            "org_id", "idempotency_key", name=op.f("uq_messages_org_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            "ix_messages_org_account_created", ["org_id", "account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_messages_org_author_role", ["org_id", "author_role", "created_at"], unique=False
        )
        batch_op.create_index("ix_messages_org_campaign", ["org_id", "campaign_id"], unique=False)
        batch_op.create_index(
            "ix_messages_org_conversation",
            ["org_id", "conversation_id", "created_at"],
            unique=False,
        )
        batch_op.create_index("ix_messages_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_messages_org_direction", ["org_id", "direction", "created_at"], unique=False
        )
        batch_op.create_index("ix_messages_org_status", ["org_id", "status"], unique=False)
        batch_op.create_index("ix_messages_org_updated", ["org_id", "updated_at"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE messages_fts USING fts5("
            "message_id UNINDEXED, org_id UNINDEXED, body, "
            "tokenize='unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE INDEX ix_messages_search ON messages "
            "USING gin (to_tsvector('simple', coalesce(body, '')))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS messages_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_messages_search")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_org_updated")
        batch_op.drop_index("ix_messages_org_status")
        batch_op.drop_index("ix_messages_org_direction")
        batch_op.drop_index("ix_messages_org_created")
        batch_op.drop_index("ix_messages_org_conversation")
        batch_op.drop_index("ix_messages_org_campaign")
        batch_op.drop_index("ix_messages_org_author_role")
        batch_op.drop_index("ix_messages_org_account_created")
        batch_op.drop_index("ix_messages_due")

    op.drop_table("messages")
    with op.batch_alter_table("conversation_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_notes_org_conversation")

    op.drop_table("conversation_notes")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_org_updated")
        batch_op.drop_index("ix_conversations_org_status")
        batch_op.drop_index("ix_conversations_org_resolved")
        batch_op.drop_index("ix_conversations_org_last_activity")
        batch_op.drop_index("ix_conversations_org_created")
        batch_op.drop_index("ix_conversations_org_contact")
        batch_op.drop_index("ix_conversations_org_assignee")
        batch_op.drop_index("ix_conversations_org_account")

    op.drop_table("conversations")
    op.drop_table("messaging_opt_outs")
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_accounts_org_kind")
        batch_op.drop_index("ix_channel_accounts_org_created")

    op.drop_table("channel_accounts")
