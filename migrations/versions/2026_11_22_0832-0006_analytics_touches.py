"""analytics touches

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:32:08.212044
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_touches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("touched_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_touches_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_touches")),
    )
    with op.batch_alter_table("analytics_touches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_touches_org_source_touched",
            ["org_id", "source", "touched_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_analytics_touches_source_touched", ["source", "touched_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("analytics_touches", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_touches_source_touched")
        batch_op.drop_index("ix_analytics_touches_org_source_touched")

    op.drop_table("analytics_touches")
