"""engagement: publishable keys, intake access tokens, support tickets, consultations, careers

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
        "career_positions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("employment_type", sa.String(length=20), nullable=False),
        sa.Column("remote", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_career_positions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_career_positions")),
    )
    op.create_index(
        "ix_career_positions_org_status", "career_positions", ["org_id", "status"], unique=False
    )
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
        "support_ticket_counters",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_support_ticket_counters_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_support_ticket_counters")),
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
    op.create_table(
        "consultations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=True),
        sa.Column("requester_email", sa.String(length=254), nullable=True),
        sa.Column("requester_phone", sa.String(length=20), nullable=True),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("company_size", sa.String(length=20), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("project_description", sa.Text(), nullable=True),
        sa.Column("budget_range", sa.String(length=50), nullable=True),
        sa.Column("timeline", sa.String(length=50), nullable=True),
        sa.Column("preferred_times", sa.String(length=500), nullable=True),
        sa.Column("host_id", sa.String(length=40), nullable=True),
        sa.Column("scheduled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("meeting_url", sa.String(length=500), nullable=True),
        sa.Column("scheduled_count", sa.Integer(), nullable=False),
        sa.Column("completed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("outcome_notes", sa.Text(), nullable=True),
        sa.Column("feedback_rating", sa.Integer(), nullable=True),
        sa.Column("feedback_comment", sa.Text(), nullable=True),
        sa.Column("feedback_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consultations_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["users.id"],
            name=op.f("fk_consultations_host_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_consultations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_consultations_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultations")),
    )
    op.create_index(
        op.f("ix_consultations_contact_id"), "consultations", ["contact_id"], unique=False
    )
    op.create_index(op.f("ix_consultations_host_id"), "consultations", ["host_id"], unique=False)
    op.create_index(
        "ix_consultations_org_email", "consultations", ["org_id", "requester_email"], unique=False
    )
    op.create_index(
        "ix_consultations_org_scheduled", "consultations", ["org_id", "scheduled_at"], unique=False
    )
    op.create_index(
        "ix_consultations_org_status", "consultations", ["org_id", "status"], unique=False
    )
    op.create_index(
        "ix_consultations_org_updated", "consultations", ["org_id", "updated_at"], unique=False
    )
    op.create_index(op.f("ix_consultations_user_id"), "consultations", ["user_id"], unique=False)
    op.create_table(
        "job_applications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("position_id", sa.String(length=40), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("linkedin_url", sa.String(length=500), nullable=True),
        sa.Column("portfolio_url", sa.String(length=500), nullable=True),
        sa.Column("cover_letter", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("resume_path", sa.String(length=1000), nullable=True),
        sa.Column("resume_filename", sa.String(length=200), nullable=True),
        sa.Column("resume_content_type", sa.String(length=100), nullable=True),
        sa.Column("resume_size", sa.Integer(), nullable=True),
        sa.Column("resume_sha256", sa.String(length=64), nullable=True),
        sa.Column("stage_changed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rejection_reason", sa.String(length=500), nullable=True),
        sa.Column("withdrawal_reason", sa.String(length=500), nullable=True),
        sa.Column("offer_salary", sa.BigInteger(), nullable=True),
        sa.Column("offer_currency", sa.String(length=3), nullable=True),
        sa.Column("offer_start_date", sa.Date(), nullable=True),
        sa.Column("offer_expires_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("offered_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("offer_answered_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hired_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_job_applications_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_job_applications_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["career_positions.id"],
            name=op.f("fk_job_applications_position_id_career_positions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_job_applications_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_applications")),
    )
    op.create_index(
        op.f("ix_job_applications_contact_id"), "job_applications", ["contact_id"], unique=False
    )
    op.create_index(
        "ix_job_applications_org_email", "job_applications", ["org_id", "email"], unique=False
    )
    op.create_index(
        "ix_job_applications_org_position",
        "job_applications",
        ["org_id", "position_id"],
        unique=False,
    )
    op.create_index(
        "ix_job_applications_org_stage", "job_applications", ["org_id", "stage"], unique=False
    )
    op.create_index(
        "ix_job_applications_org_updated",
        "job_applications",
        ["org_id", "updated_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_job_applications_user_id"), "job_applications", ["user_id"], unique=False
    )
    op.create_table(
        "support_tickets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=True),
        sa.Column("requester_email", sa.String(length=254), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("assignee_id", sa.String(length=40), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("satisfaction_rating", sa.Integer(), nullable=True),
        sa.Column("satisfaction_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "first_response_due_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("resolution_due_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_responded_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_s", sa.Integer(), nullable=True),
        sa.Column("resolved_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_s", sa.Integer(), nullable=True),
        sa.Column("closed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "first_response_breached_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "resolution_breached_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_support_tickets_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_support_tickets_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_support_tickets_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_support_tickets_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
        sa.UniqueConstraint("org_id", "number", name=op.f("uq_support_tickets_org_id_number")),
    )
    op.create_index(
        op.f("ix_support_tickets_assignee_id"), "support_tickets", ["assignee_id"], unique=False
    )
    op.create_index(
        op.f("ix_support_tickets_contact_id"), "support_tickets", ["contact_id"], unique=False
    )
    op.create_index(
        "ix_support_tickets_org_created", "support_tickets", ["org_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_support_tickets_org_email",
        "support_tickets",
        ["org_id", "requester_email"],
        unique=False,
    )
    op.create_index(
        "ix_support_tickets_org_status", "support_tickets", ["org_id", "status"], unique=False
    )
    op.create_index(
        "ix_support_tickets_org_updated", "support_tickets", ["org_id", "updated_at"], unique=False
    )
    op.create_index(
        op.f("ix_support_tickets_user_id"), "support_tickets", ["user_id"], unique=False
    )
    op.create_table(
        "job_interviews",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("scheduled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("interviewer_id", sa.String(length=40), nullable=True),
        sa.Column("meeting_url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["job_applications.id"],
            name=op.f("fk_job_interviews_application_id_job_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interviewer_id"],
            ["users.id"],
            name=op.f("fk_job_interviews_interviewer_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_job_interviews_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_interviews")),
    )
    op.create_index(
        op.f("ix_job_interviews_interviewer_id"), "job_interviews", ["interviewer_id"], unique=False
    )
    op.create_index(
        "ix_job_interviews_org_application",
        "job_interviews",
        ["org_id", "application_id"],
        unique=False,
    )
    op.create_table(
        "support_ticket_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.String(length=40), nullable=False),
        sa.Column("author_type", sa.String(length=10), nullable=False),
        sa.Column("author_user_id", sa.String(length=40), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_support_ticket_messages_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_support_ticket_messages_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_ticket_messages_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_ticket_messages")),
    )
    op.create_index(
        op.f("ix_support_ticket_messages_author_user_id"),
        "support_ticket_messages",
        ["author_user_id"],
        unique=False,
    )
    op.create_index(
        "ix_support_ticket_messages_org_ticket",
        "support_ticket_messages",
        ["org_id", "ticket_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_support_ticket_messages_org_ticket", table_name="support_ticket_messages")
    op.drop_index(
        op.f("ix_support_ticket_messages_author_user_id"), table_name="support_ticket_messages"
    )
    op.drop_table("support_ticket_messages")
    op.drop_index("ix_job_interviews_org_application", table_name="job_interviews")
    op.drop_index(op.f("ix_job_interviews_interviewer_id"), table_name="job_interviews")
    op.drop_table("job_interviews")
    op.drop_index(op.f("ix_support_tickets_user_id"), table_name="support_tickets")
    op.drop_index("ix_support_tickets_org_updated", table_name="support_tickets")
    op.drop_index("ix_support_tickets_org_status", table_name="support_tickets")
    op.drop_index("ix_support_tickets_org_email", table_name="support_tickets")
    op.drop_index("ix_support_tickets_org_created", table_name="support_tickets")
    op.drop_index(op.f("ix_support_tickets_contact_id"), table_name="support_tickets")
    op.drop_index(op.f("ix_support_tickets_assignee_id"), table_name="support_tickets")
    op.drop_table("support_tickets")
    op.drop_index(op.f("ix_job_applications_user_id"), table_name="job_applications")
    op.drop_index("ix_job_applications_org_updated", table_name="job_applications")
    op.drop_index("ix_job_applications_org_stage", table_name="job_applications")
    op.drop_index("ix_job_applications_org_position", table_name="job_applications")
    op.drop_index("ix_job_applications_org_email", table_name="job_applications")
    op.drop_index(op.f("ix_job_applications_contact_id"), table_name="job_applications")
    op.drop_table("job_applications")
    op.drop_index(op.f("ix_consultations_user_id"), table_name="consultations")
    op.drop_index("ix_consultations_org_updated", table_name="consultations")
    op.drop_index("ix_consultations_org_status", table_name="consultations")
    op.drop_index("ix_consultations_org_scheduled", table_name="consultations")
    op.drop_index("ix_consultations_org_email", table_name="consultations")
    op.drop_index(op.f("ix_consultations_host_id"), table_name="consultations")
    op.drop_index(op.f("ix_consultations_contact_id"), table_name="consultations")
    op.drop_table("consultations")
    op.drop_index("ix_intake_access_tokens_org_record", table_name="intake_access_tokens")
    op.drop_table("intake_access_tokens")
    op.drop_table("support_ticket_counters")
    op.drop_index("ix_publishable_keys_org_status", table_name="publishable_keys")
    op.drop_table("publishable_keys")
    op.drop_index("ix_career_positions_org_status", table_name="career_positions")
    op.drop_table("career_positions")
