"""engagement: comments on calls and tickets

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=True),
        sa.Column("ticket_id", sa.String(length=40), nullable=True),
        sa.Column("author_id", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("edited_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(call_id IS NULL) <> (ticket_id IS NULL)", name=op.f("ck_comments_one_target")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_comments_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_comments_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_comments_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_comments_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index("ix_comments_org_call", "comments", ["org_id", "call_id", "id"], unique=False)
    op.create_index(
        "ix_comments_org_ticket", "comments", ["org_id", "ticket_id", "id"], unique=False
    )
    op.create_index("ix_comments_org_author", "comments", ["org_id", "author_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_comments_org_author", table_name="comments")
    op.drop_index("ix_comments_org_ticket", table_name="comments")
    op.drop_index("ix_comments_org_call", table_name="comments")
    op.drop_table("comments")
