"""engagement: comment threads and mentions, publishable key usage, visitors'
suggestion emails, per-organization support SLA targets

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("mentions", JSON, nullable=False, server_default="[]"))
        batch.create_foreign_key(
            op.f("fk_comments_parent_id_comments"),
            "comments",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("comments") as batch:
        batch.alter_column("mentions", server_default=None)
    op.create_index("ix_comments_org_parent", "comments", ["org_id", "parent_id"], unique=False)

    with op.batch_alter_table("publishable_keys") as batch:
        batch.add_column(
            sa.Column("total_requests", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("first_used_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("last_used_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("publishable_keys") as batch:
        batch.alter_column("total_requests", server_default=None)

    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(sa.Column("author_email", sa.String(length=320), nullable=True))
    op.create_index(
        "ix_suggestions_org_email", "suggestions", ["org_id", "author_email"], unique=False
    )

    op.create_table(
        "support_sla_targets",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("first_response_min", sa.Integer(), nullable=False),
        sa.Column("resolution_min", sa.Integer(), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_support_sla_targets_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "priority", name=op.f("pk_support_sla_targets")),
    )


def downgrade() -> None:
    op.drop_table("support_sla_targets")
    op.drop_index("ix_suggestions_org_email", table_name="suggestions")
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_column("author_email")
    with op.batch_alter_table("publishable_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("first_used_at")
        batch.drop_column("total_requests")
    op.drop_index("ix_comments_org_parent", table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_constraint(op.f("fk_comments_parent_id_comments"), type_="foreignkey")
        batch.drop_column("mentions")
        batch.drop_column("parent_id")
