"""billing revenue more: usage-priced add-ons (billing_addons.usage_meter); subscriptions
indexed by (org_id, updated_at), analytics' change time for trial conversion

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-28 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("billing_addons", sa.Column("usage_meter", sa.String(length=20), nullable=True))
    op.create_index(
        "ix_billing_subscriptions_org_updated",
        "billing_subscriptions",
        ["org_id", "updated_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_billing_subscriptions_org_updated", table_name="billing_subscriptions")
    with op.batch_alter_table("billing_addons") as batch:
        batch.drop_column("usage_meter")
