"""analytics

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:58:28.058020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_watermarks",
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("position", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_analytics_watermarks")),
    )
    op.create_table(
        "tracking_salts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_tracking_salts")),
    )
    op.create_table(
        "analytics_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=120), nullable=False),
        sa.Column("comparator", sa.String(length=3), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("min_count", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("dimension", sa.String(length=40), nullable=True),
        sa.Column("dimension_value", sa.String(length=200), nullable=True),
        sa.Column("cooldown_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_checked_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_triggered_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_alerts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_alerts")),
    )
    with op.batch_alter_table("analytics_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_alerts_org", ["org_id"], unique=False)

    op.create_table(
        "analytics_snapshots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("snapshot_type", sa.String(length=10), nullable=False),
        sa.Column("period_start", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_snapshots_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_snapshots")),
        sa.UniqueConstraint(
            "org_id",
            "account_id",
            "period_start",
            "snapshot_type",
            name=op.f("uq_analytics_snapshots_org_id_account_id_period_start_snapshot_type"),
        ),
    )
    with op.batch_alter_table("analytics_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_snapshots_org_created", ["org_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_analytics_snapshots_org_type_date",
            ["org_id", "snapshot_type", "date"],
            unique=False,
        )

    op.create_table(
        "custom_metrics",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("aggregate", sa.String(length=10), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=True),
        sa.Column(
            "filters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("rollup_signature", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_custom_metrics_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_metrics")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_custom_metrics_org_id_name")),
    )
    op.create_table(
        "lab_experiments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("experiment_type", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "output",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("processing_time_ms", sa.Integer(), nullable=True),
        sa.Column("tokens_used", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("occurred_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_lab_experiments_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_experiments")),
    )
    with op.batch_alter_table("lab_experiments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lab_experiments_org_occurred", ["org_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_lab_experiments_org_updated", ["org_id", "updated_at"], unique=False
        )
        batch_op.create_index("ix_lab_experiments_org_user", ["org_id", "user_id"], unique=False)

    op.create_table(
        "metric_rollups",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=120), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_metric_rollups_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "org_id",
            "metric",
            "dimension",
            "value",
            "hour",
            "account",
            name=op.f("pk_metric_rollups"),
        ),
    )
    op.create_table(
        "tracked_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurred_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_tracked_events_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_tracked_events")),
        sa.UniqueConstraint("org_id", "event_id", name=op.f("uq_tracked_events_org_id_event_id")),
    )
    with op.batch_alter_table("tracked_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracked_events_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_tracked_events_org_occurred", ["org_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_tracked_events_org_received", ["org_id", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_tracked_events_org_type_occurred", ["org_id", "type", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_tracked_events_org_user", ["org_id", "user_id"], unique=False)

    op.create_table(
        "visitors",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("first_seen_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pageviews", sa.Integer(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("device_type", sa.String(length=20), nullable=True),
        sa.Column("browser", sa.String(length=100), nullable=True),
        sa.Column("os", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("referrer", sa.String(length=2048), nullable=True),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_visitors_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitors")),
    )
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visitors_org_first_seen", ["org_id", "first_seen_at"], unique=False
        )
        batch_op.create_index("ix_visitors_org_updated", ["org_id", "updated_at"], unique=False)
        batch_op.create_index("ix_visitors_org_user", ["org_id", "user_id"], unique=False)

    op.create_table(
        "visitor_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pageviews", sa.Integer(), nullable=False),
        sa.Column("entry_url", sa.String(length=2048), nullable=True),
        sa.Column("exit_url", sa.String(length=2048), nullable=True),
        sa.Column("referrer", sa.String(length=2048), nullable=True),
        sa.Column("referrer_host", sa.String(length=255), nullable=True),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("device_type", sa.String(length=20), nullable=True),
        sa.Column("browser", sa.String(length=100), nullable=True),
        sa.Column("os", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_visitor_sessions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_visitor_sessions_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_sessions")),
    )
    with op.batch_alter_table("visitor_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visitor_sessions_org_started", ["org_id", "started_at"], unique=False
        )
        batch_op.create_index(
            "ix_visitor_sessions_org_updated", ["org_id", "updated_at"], unique=False
        )
        batch_op.create_index("ix_visitor_sessions_org_user", ["org_id", "user_id"], unique=False)
        batch_op.create_index(
            "ix_visitor_sessions_visitor_last_seen", ["visitor_id", "last_seen_at"], unique=False
        )

    op.create_table(
        "pageviews",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("referrer", sa.String(length=2048), nullable=True),
        sa.Column("referrer_host", sa.String(length=255), nullable=True),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("utm_term", sa.String(length=200), nullable=True),
        sa.Column("utm_content", sa.String(length=200), nullable=True),
        sa.Column("device_type", sa.String(length=20), nullable=True),
        sa.Column("browser", sa.String(length=100), nullable=True),
        sa.Column("os", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_pageviews_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["visitor_sessions.id"],
            name=op.f("fk_pageviews_session_id_visitor_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_pageviews_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pageviews")),
    )
    with op.batch_alter_table("pageviews", schema=None) as batch_op:
        batch_op.create_index("ix_pageviews_org_occurred", ["org_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_pageviews_org_received", ["org_id", "received_at"], unique=False)
        batch_op.create_index("ix_pageviews_org_user", ["org_id", "user_id"], unique=False)
        batch_op.create_index("ix_pageviews_session", ["session_id"], unique=False)

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_org_updated", ["org_id", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_org_updated")

    with op.batch_alter_table("pageviews", schema=None) as batch_op:
        batch_op.drop_index("ix_pageviews_session")
        batch_op.drop_index("ix_pageviews_org_user")
        batch_op.drop_index("ix_pageviews_org_received")
        batch_op.drop_index("ix_pageviews_org_occurred")

    op.drop_table("pageviews")
    with op.batch_alter_table("visitor_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_visitor_sessions_visitor_last_seen")
        batch_op.drop_index("ix_visitor_sessions_org_user")
        batch_op.drop_index("ix_visitor_sessions_org_updated")
        batch_op.drop_index("ix_visitor_sessions_org_started")

    op.drop_table("visitor_sessions")
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_index("ix_visitors_org_user")
        batch_op.drop_index("ix_visitors_org_updated")
        batch_op.drop_index("ix_visitors_org_first_seen")

    op.drop_table("visitors")
    with op.batch_alter_table("tracked_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tracked_events_org_user")
        batch_op.drop_index("ix_tracked_events_org_type_occurred")
        batch_op.drop_index("ix_tracked_events_org_received")
        batch_op.drop_index("ix_tracked_events_org_occurred")
        batch_op.drop_index(batch_op.f("ix_tracked_events_expires_at"))

    op.drop_table("tracked_events")
    op.drop_table("metric_rollups")
    with op.batch_alter_table("lab_experiments", schema=None) as batch_op:
        batch_op.drop_index("ix_lab_experiments_org_user")
        batch_op.drop_index("ix_lab_experiments_org_updated")
        batch_op.drop_index("ix_lab_experiments_org_occurred")

    op.drop_table("lab_experiments")
    op.drop_table("custom_metrics")
    with op.batch_alter_table("analytics_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_snapshots_org_type_date")
        batch_op.drop_index("ix_analytics_snapshots_org_created")

    op.drop_table("analytics_snapshots")
    with op.batch_alter_table("analytics_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_alerts_org")

    op.drop_table("analytics_alerts")
    op.drop_table("tracking_salts")
    op.drop_table("analytics_watermarks")
