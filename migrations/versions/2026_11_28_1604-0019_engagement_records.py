"""engagement records: bookings, calendar feeds, leads, webinars, registrations

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("conversation_id", sa.String(length=40), nullable=True),
        sa.Column("client_name", sa.String(length=200), nullable=True),
        sa.Column("client_phone", sa.String(length=20), nullable=True),
        sa.Column("client_email", sa.String(length=320), nullable=True),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("starts_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=True),
        sa.Column("staff_user_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("confirmation_sent", sa.Boolean(), nullable=False),
        sa.Column("reminder_sent", sa.Boolean(), nullable=False),
        sa.Column("reminder_due_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ai_notes", sa.Text(), nullable=True),
        sa.Column("confirmed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_bookings_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_bookings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["users.id"],
            name=op.f("fk_bookings_staff_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index("ix_bookings_org_contact", "bookings", ["org_id", "contact_id"], unique=False)
    op.create_index(
        "ix_bookings_org_resource_starts",
        "bookings",
        ["org_id", "resource", "starts_at"],
        unique=False,
    )
    op.create_index(
        "ix_bookings_org_staff_starts",
        "bookings",
        ["org_id", "staff_user_id", "starts_at"],
        unique=False,
    )
    op.create_index("ix_bookings_org_starts", "bookings", ["org_id", "starts_at"], unique=False)
    op.create_index("ix_bookings_org_updated", "bookings", ["org_id", "updated_at"], unique=False)
    op.create_table(
        "booking_calendar_feeds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_booking_calendar_feeds_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_booking_calendar_feeds_token_hash")),
    )
    op.create_index(
        "ix_booking_calendar_feeds_org", "booking_calendar_feeds", ["org_id"], unique=False
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("conversation_id", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("interest", sa.String(length=100), nullable=True),
        sa.Column("budget", sa.String(length=50), nullable=True),
        sa.Column("timeline", sa.String(length=50), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("score_source", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("follow_up_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("follow_up_status", sa.String(length=20), nullable=False),
        sa.Column("follow_up_due_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("converted", sa.Boolean(), nullable=False),
        sa.Column("converted_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deal_value", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_leads_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_leads_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    op.create_index("ix_leads_org_contact", "leads", ["org_id", "contact_id"], unique=False)
    op.create_index(
        "ix_leads_org_follow_up",
        "leads",
        ["org_id", "follow_up_status", "follow_up_at"],
        unique=False,
    )
    op.create_index("ix_leads_org_updated", "leads", ["org_id", "updated_at"], unique=False)
    op.create_table(
        "webinars",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("starts_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("join_url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_webinars_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webinars")),
    )
    op.create_index("ix_webinars_org_starts", "webinars", ["org_id", "starts_at"], unique=False)
    op.create_index("ix_webinars_org_updated", "webinars", ["org_id", "updated_at"], unique=False)
    op.create_table(
        "webinar_registrations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("webinar_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("contact_id", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("joined_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("in_session_since", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("minutes_attended", sa.Integer(), nullable=False),
        sa.Column("questions_asked", sa.Integer(), nullable=False),
        sa.Column("polls_answered", sa.Integer(), nullable=False),
        sa.Column("chat_messages", sa.Integer(), nullable=False),
        sa.Column("feedback_rating", sa.Integer(), nullable=True),
        sa.Column("feedback_comment", sa.Text(), nullable=True),
        sa.Column("feedback_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_webinar_registrations_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_webinar_registrations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_webinar_registrations_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["webinar_id"],
            ["webinars.id"],
            name=op.f("fk_webinar_registrations_webinar_id_webinars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webinar_registrations")),
        sa.UniqueConstraint(
            "webinar_id", "email", name=op.f("uq_webinar_registrations_webinar_id_email")
        ),
    )
    op.create_index(
        "ix_webinar_registrations_org_contact",
        "webinar_registrations",
        ["org_id", "contact_id"],
        unique=False,
    )
    op.create_index(
        "ix_webinar_registrations_org_email",
        "webinar_registrations",
        ["org_id", "email"],
        unique=False,
    )
    op.create_index(
        "ix_webinar_registrations_org_updated",
        "webinar_registrations",
        ["org_id", "updated_at"],
        unique=False,
    )
    op.create_index(
        "ix_webinar_registrations_org_user",
        "webinar_registrations",
        ["org_id", "user_id"],
        unique=False,
    )
    op.create_table(
        "favorites",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("folder", sa.String(length=100), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("last_used_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_favorites_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_favorites_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorites")),
        sa.UniqueConstraint(
            "org_id",
            "user_id",
            "type",
            "item_id",
            name=op.f("uq_favorites_org_id_user_id_type_item_id"),
        ),
    )
    op.create_index(
        "ix_favorites_org_user_folder", "favorites", ["org_id", "user_id", "folder"], unique=False
    )
    op.create_table(
        "suggestions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("author_user_id", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("upvotes", sa.Integer(), nullable=False),
        sa.Column("downvotes", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment_count", sa.Integer(), nullable=False),
        sa.Column("implementation_notes", sa.Text(), nullable=True),
        sa.Column("implemented_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_suggestions_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_suggestions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
    )
    op.create_index(
        "ix_suggestions_org_author", "suggestions", ["org_id", "author_user_id"], unique=False
    )
    op.create_index(
        "ix_suggestions_org_score", "suggestions", ["org_id", "score", "id"], unique=False
    )
    op.create_index(
        "ix_suggestions_org_updated", "suggestions", ["org_id", "updated_at"], unique=False
    )
    op.create_table(
        "suggestion_votes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("suggestion_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_suggestion_votes_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestions.id"],
            name=op.f("fk_suggestion_votes_suggestion_id_suggestions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_suggestion_votes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_votes")),
        sa.UniqueConstraint(
            "suggestion_id", "user_id", name=op.f("uq_suggestion_votes_suggestion_id_user_id")
        ),
    )
    op.create_index(
        "ix_suggestion_votes_org_updated",
        "suggestion_votes",
        ["org_id", "updated_at"],
        unique=False,
    )
    op.create_index(
        "ix_suggestion_votes_org_user", "suggestion_votes", ["org_id", "user_id"], unique=False
    )
    op.create_table(
        "suggestion_comments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("suggestion_id", sa.String(length=40), nullable=False),
        sa.Column("author_user_id", sa.String(length=40), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_suggestion_comments_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_suggestion_comments_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestions.id"],
            name=op.f("fk_suggestion_comments_suggestion_id_suggestions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_comments")),
    )
    op.create_index(
        "ix_suggestion_comments_org_author",
        "suggestion_comments",
        ["org_id", "author_user_id"],
        unique=False,
    )
    op.create_index(
        "ix_suggestion_comments_suggestion",
        "suggestion_comments",
        ["suggestion_id", "id"],
        unique=False,
    )
    op.create_table(
        "agent_personalizations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column(
            "display",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "behavior",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("custom_instructions", sa.Text(), nullable=True),
        sa.Column(
            "saved_prompts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_agent_personalizations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_personalizations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_personalizations")),
        sa.UniqueConstraint(
            "org_id",
            "user_id",
            "agent_id",
            name=op.f("uq_agent_personalizations_org_id_user_id_agent_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("agent_personalizations")
    op.drop_table("suggestion_comments")
    op.drop_table("suggestion_votes")
    op.drop_table("suggestions")
    op.drop_table("favorites")
    op.drop_table("webinar_registrations")
    op.drop_table("webinars")
    op.drop_table("leads")
    op.drop_table("booking_calendar_feeds")
    op.drop_table("bookings")
