"""messaging: raw WhatsApp notifications waiting to be filed

The webhook stores each signed notification and answers at once; the intake
consumer files them in batches (``commbase.messaging.intake``).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("phone_number_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("failed_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_whatsapp_notifications_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_notifications")),
        sa.UniqueConstraint(
            "account_id",
            "body_sha256",
            name=op.f("uq_whatsapp_notifications_account_id_body_sha256"),
        ),
    )
    op.create_index(
        "ix_whatsapp_notifications_due",
        "whatsapp_notifications",
        ["available_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_whatsapp_notifications_due", table_name="whatsapp_notifications")
    op.drop_table("whatsapp_notifications")
