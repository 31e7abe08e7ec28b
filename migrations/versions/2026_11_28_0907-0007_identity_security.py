"""identity security: who holds a key's secret, test-mode agent sessions, invitations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:07:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db  # noqa: F401

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issued_to", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_issued_to_users"),
            "users",
            ["issued_to"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("livemode", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), server_default="active", nullable=False)
        )
        batch_op.add_column(sa.Column("invitation", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("invitation")
        batch_op.drop_column("status")
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_column("livemode")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_issued_to_users"), type_="foreignkey")
        batch_op.drop_column("issued_to")
