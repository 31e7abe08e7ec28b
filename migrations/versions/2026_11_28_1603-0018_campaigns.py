"""messaging: campaigns and their recipients

``campaigns`` (template, audience, throttle, status and its times, counts of
recipients and of skipped contacts, the runner's pace ``next_batch_at``) and
``campaign_recipients`` (one per campaign and contact; the runner's claims:
``claimed_by``, ``lease_until``; the message sent).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("template_name", sa.String(length=200), nullable=False),
        sa.Column("template_language", sa.String(length=16), nullable=False),
        sa.Column(
            "template_parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "audience",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("throttle_per_second", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scheduled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("next_batch_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recipients_total", sa.Integer(), nullable=False),
        sa.Column("skipped_opted_out", sa.Integer(), nullable=False),
        sa.Column("skipped_other", sa.Integer(), nullable=False),
        sa.Column("created_by_user_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_campaigns_account_id_channel_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_campaigns_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(
        "ix_campaigns_org_account",
        "campaigns",
        ["org_id", "account_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_campaigns_org_created", "campaigns", ["org_id", "created_at"], unique=False)
    op.create_index("ix_campaigns_org_updated", "campaigns", ["org_id", "updated_at"], unique=False)
    op.create_index(
        "ix_campaigns_status_scheduled", "campaigns", ["status", "scheduled_at"], unique=False
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("skip_reason", sa.String(length=20), nullable=True),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("lease_until", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_campaign_recipients_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", name=op.f("uq_campaign_recipients_campaign_id_contact_id")
        ),
    )
    op.create_index(
        "ix_campaign_recipients_due",
        "campaign_recipients",
        ["campaign_id", "status", "lease_until"],
        unique=False,
    )
    op.create_index(
        "ix_campaign_recipients_org_campaign",
        "campaign_recipients",
        ["org_id", "campaign_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_campaign_recipients_org_contact",
        "campaign_recipients",
        ["org_id", "contact_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_recipients_org_contact", table_name="campaign_recipients")
    op.drop_index("ix_campaign_recipients_org_campaign", table_name="campaign_recipients")
    op.drop_index("ix_campaign_recipients_due", table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_index("ix_campaigns_status_scheduled", table_name="campaigns")
    op.drop_index("ix_campaigns_org_updated", table_name="campaigns")
    op.drop_index("ix_campaigns_org_created", table_name="campaigns")
    op.drop_index("ix_campaigns_org_account", table_name="campaigns")
    op.drop_table("campaigns")
