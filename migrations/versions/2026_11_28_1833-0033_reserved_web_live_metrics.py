"""analytics: api_request_counts (API request outcomes per organization, minute, route group and status class)

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-28 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = commbase.core.db.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "api_request_counts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("minute", UTC(timezone=True), nullable=False),
        sa.Column("route_group", sa.String(length=40), nullable=False),
        sa.Column("status_class", sa.String(length=3), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_api_request_counts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_request_counts")),
    )
    op.create_index("ix_api_request_counts_org_minute", "api_request_counts", ["org_id", "minute"])
    op.create_index(
        "ix_api_request_counts_org_created", "api_request_counts", ["org_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_api_request_counts_org_created", table_name="api_request_counts")
    op.drop_index("ix_api_request_counts_org_minute", table_name="api_request_counts")
    op.drop_table("api_request_counts")
