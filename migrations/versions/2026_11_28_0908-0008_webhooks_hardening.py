"""webhooks hardening: attempt outcomes, endpoints found by their agent session

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 09:08:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db  # noqa: F401

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=20), nullable=True))
    # Earlier attempts: what their status code and error say.
    op.execute(
        """
        UPDATE webhook_attempts SET outcome = CASE
            WHEN succeeded THEN 'succeeded'
            WHEN response_status IS NOT NULL THEN 'http_error'
            WHEN error LIKE 'Webhook URL refused%' THEN 'refused'
            WHEN error LIKE '%Timeout%' THEN 'timeout'
            ELSE 'connection_error'
        END
        """
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.alter_column("outcome", existing_type=sa.String(length=20), nullable=False)
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_endpoints_org_agent_session",
            ["org_id", "owner_agent_session_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_endpoints_org_agent_session")
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_column("outcome")
