"""contacts calls billing transcripts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:41:52.590480
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("agent_session_id", sa.String(length=40), nullable=True),
        sa.Column("api_key_id", sa.String(length=40), nullable=True),
        sa.Column("wallet_id", sa.String(length=40), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("from_number", sa.String(length=20), nullable=True),
        sa.Column("to_number", sa.String(length=20), nullable=True),
        sa.Column("to_number_formatted", sa.String(length=40), nullable=True),
        sa.Column("to_country", sa.String(length=2), nullable=True),
        sa.Column("to_line_type", sa.String(length=20), nullable=True),
        sa.Column("to_carrier", sa.String(length=100), nullable=True),
        sa.Column("privacy_mode", sa.Boolean(), nullable=False),
        sa.Column("caller_id_name", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("end_reason", sa.String(length=30), nullable=True),
        sa.Column("initiated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ringing_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("waiting_time_seconds", sa.Integer(), nullable=True),
        sa.Column("response_time_seconds", sa.Integer(), nullable=True),
        sa.Column("reconnections", sa.Integer(), nullable=False),
        sa.Column("screenshare_used", sa.Boolean(), nullable=False),
        sa.Column("problem_solved", sa.Boolean(), nullable=True),
        sa.Column("max_duration_seconds", sa.Integer(), nullable=False),
        sa.Column("rate_per_minute", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("hold_amount", sa.BigInteger(), nullable=False),
        sa.Column("hold_minutes", sa.Integer(), nullable=False),
        sa.Column("billable_minutes", sa.Integer(), nullable=True),
        sa.Column("cost_amount", sa.BigInteger(), nullable=True),
        sa.Column(
            "cost_breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("ledger_entry_id", sa.String(length=40), nullable=True),
        sa.Column("mos_score", sa.Double(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("jitter_ms", sa.Integer(), nullable=True),
        sa.Column("packet_loss", sa.Double(), nullable=True),
        sa.Column("codec", sa.String(length=20), nullable=True),
        sa.Column("video_resolution", sa.String(length=20), nullable=True),
        sa.Column("frame_rate", sa.Double(), nullable=True),
        sa.Column("bitrate_kbps", sa.Integer(), nullable=True),
        sa.Column("quality", sa.String(length=10), nullable=True),
        sa.Column("recording_enabled", sa.Boolean(), nullable=False),
        sa.Column("recording_url", sa.String(length=1000), nullable=True),
        sa.Column("transcription_enabled", sa.Boolean(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_call_id", sa.String(length=100), nullable=True),
        sa.Column(
            "provider_state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "analysis",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("review_rating", sa.Integer(), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=True),
        sa.Column("reviewed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("erased_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_calls_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint(
            "provider", "provider_call_id", name=op.f("uq_calls_provider_provider_call_id")
        ),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calls_org_agent_session", ["org_id", "agent_session_id"], unique=False
        )
        batch_op.create_index("ix_calls_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index("ix_calls_org_status", ["org_id", "status"], unique=False)
        batch_op.create_index("ix_calls_org_to", ["org_id", "to_number"], unique=False)
        batch_op.create_index("ix_calls_org_user", ["org_id", "user_id"], unique=False)

    op.create_table(
        "rates",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("line_type", sa.String(length=20), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("per_minute", sa.Numeric(precision=12, scale=6), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_rates_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rates")),
        sa.UniqueConstraint(
            "org_id", "country", "line_type", name=op.f("uq_rates_org_id_country_line_type")
        ),
    )
    op.create_table(
        "wallets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("owner_type", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("balance_minutes", sa.Integer(), nullable=False),
        sa.Column("held_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_customer_id", sa.String(length=100), nullable=True),
        sa.Column("provider_payment_method_id", sa.String(length=100), nullable=True),
        sa.Column("auto_recharge", sa.Boolean(), nullable=False),
        sa.Column("auto_recharge_threshold", sa.BigInteger(), nullable=True),
        sa.Column("auto_recharge_amount", sa.BigInteger(), nullable=True),
        sa.Column("low_balance_threshold", sa.BigInteger(), nullable=True),
        sa.Column("daily_spend_limit", sa.BigInteger(), nullable=True),
        sa.Column("last_transaction_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_wallets_balance_not_negative")),
        sa.CheckConstraint("balance_minutes >= 0", name=op.f("ck_wallets_minutes_not_negative")),
        sa.CheckConstraint(
            "held >= 0 AND held <= balance", name=op.f("ck_wallets_held_within_balance")
        ),
        sa.CheckConstraint(
            "held_minutes >= 0 AND held_minutes <= balance_minutes",
            name=op.f("ck_wallets_held_minutes_within"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_wallets_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint(
            "org_id", "owner_type", "owner_id", name=op.f("uq_wallets_org_id_owner_type_owner_id")
        ),
    )
    op.create_table(
        "call_actions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_actions_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_call_actions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_actions")),
    )
    with op.batch_alter_table("call_actions", schema=None) as batch_op:
        batch_op.create_index("ix_call_actions_org_call", ["org_id", "call_id"], unique=False)

    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_events_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_call_events_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
    )
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.create_index("ix_call_events_org_call", ["org_id", "call_id"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("owner_user_id", sa.String(length=40), nullable=True),
        sa.Column("owner_agent_session_id", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("phone_formatted", sa.String(length=40), nullable=True),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("total_calls", sa.Integer(), nullable=False),
        sa.Column("total_duration", sa.Integer(), nullable=False),
        sa.Column("first_called_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_called_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_contacts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_agent_session_id"],
            ["agent_sessions.id"],
            name=op.f("fk_contacts_owner_agent_session_id_agent_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_contacts_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_org_agent_session", ["org_id", "owner_agent_session_id"], unique=False
        )
        batch_op.create_index("ix_contacts_org_owner", ["org_id", "owner_user_id"], unique=False)
        batch_op.create_index("ix_contacts_org_phone", ["org_id", "phone"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("wallet_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_before", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("minutes_before", sa.Integer(), nullable=False),
        sa.Column("minutes_after", sa.Integer(), nullable=False),
        sa.Column("related_call_id", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("agent_session_id", sa.String(length=40), nullable=True),
        sa.Column("payment_method", sa.String(length=20), nullable=True),
        sa.Column("provider_transaction_id", sa.String(length=100), nullable=True),
        sa.Column("plan", sa.String(length=40), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("receipt_number", sa.String(length=40), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_ledger_entries_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name=op.f("fk_ledger_entries_wallet_id_wallets"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_entries_idempotency_key")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_org_call", ["org_id", "related_call_id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_org_created", ["org_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_provider_txn", ["provider_transaction_id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_wallet_created", ["wallet_id", "created_at"], unique=False
        )

    op.create_table(
        "transcripts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("speaker_labels_enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "segments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_transcripts_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_transcripts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("call_id", name=op.f("uq_transcripts_call_id")),
    )
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transcripts_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index("ix_transcripts_org_created", ["org_id", "created_at"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("total_calls", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("total_video_calls", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("total_call_duration", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("review_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("rating_sum", sa.Integer(), nullable=False, server_default="0")
        )

    # Full-text search over transcripts: FTS5 on SQLite, a GIN index on PostgreSQL.
    # Dialect-specific, so kept out of the models (migration tests skip these names).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE transcripts_fts USING fts5("
            "transcript_id UNINDEXED, org_id UNINDEXED, text, tokenize='unicode61')"
        )
    else:
        op.execute(
            "CREATE INDEX ix_transcripts_search ON transcripts "
            "USING gin (to_tsvector('simple', text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS transcripts_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_transcripts_search")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("rating_sum")
        batch_op.drop_column("review_count")
        batch_op.drop_column("total_call_duration")
        batch_op.drop_column("total_video_calls")
        batch_op.drop_column("total_calls")

    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.drop_index("ix_transcripts_org_created")
        batch_op.drop_index(batch_op.f("ix_transcripts_expires_at"))

    op.drop_table("transcripts")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_wallet_created")
        batch_op.drop_index("ix_ledger_entries_provider_txn")
        batch_op.drop_index("ix_ledger_entries_org_created")
        batch_op.drop_index("ix_ledger_entries_org_call")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_org_phone")
        batch_op.drop_index("ix_contacts_org_owner")
        batch_op.drop_index("ix_contacts_org_agent_session")

    op.drop_table("contacts")
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.drop_index("ix_call_events_org_call")

    op.drop_table("call_events")
    with op.batch_alter_table("call_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_call_actions_org_call")

    op.drop_table("call_actions")
    op.drop_table("wallets")
    op.drop_table("rates")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_org_user")
        batch_op.drop_index("ix_calls_org_to")
        batch_op.drop_index("ix_calls_org_status")
        batch_op.drop_index("ix_calls_org_created")
        batch_op.drop_index("ix_calls_org_agent_session")

    op.drop_table("calls")
