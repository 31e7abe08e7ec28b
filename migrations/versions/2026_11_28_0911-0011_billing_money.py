"""billing money

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 09:11:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import commbase.core.db  # noqa: F401

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Test wallets (opened with cb_test_ keys) pay in the provider's sandbox.
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("livemode", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    # Refunds link to what they refund, which counts them; failed provider
    # payments keep the provider's message; keys are credential-scoped (<= 288).
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refund_of", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("refunded_minutes", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("error_message", sa.String(length=500), nullable=True))
        batch_op.alter_column(
            "idempotency_key",
            existing_type=sa.String(length=255),
            type_=sa.String(length=300),
            existing_nullable=True,
        )
        batch_op.create_foreign_key(
            op.f("fk_ledger_entries_refund_of_ledger_entries"),
            "ledger_entries",
            ["refund_of"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_index("ix_ledger_entries_refund_of", ["refund_of"], unique=False)
        # Analytics' change time: a pending payment settled later is folded again.
        batch_op.create_index("ix_ledger_entries_completed", ["completed_at"], unique=False)
        batch_op.create_check_constraint(
            op.f("ck_ledger_entries_refunds_within_amount"),
            "refunded_amount >= 0 AND refunded_amount <= amount",
        )
        batch_op.create_check_constraint(
            op.f("ck_ledger_entries_refunds_within_minutes"),
            "refunded_minutes >= 0 AND refunded_minutes <= minutes",
        )
    # One LineType for numbers and rates: ``fixed_line`` rates (which no number ever
    # matched) become ``landline`` rates unless the same landline rate exists.
    op.execute(
        "UPDATE rates SET line_type = 'landline' WHERE line_type = 'fixed_line' "
        "AND NOT EXISTS (SELECT 1 FROM rates AS other WHERE other.org_id = rates.org_id "
        "AND other.line_type = 'landline' AND (other.country = rates.country "
        "OR (other.country IS NULL AND rates.country IS NULL)))"
    )
    op.execute("DELETE FROM rates WHERE line_type = 'fixed_line'")


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_ledger_entries_refunds_within_minutes"), type_="check")
        batch_op.drop_constraint(op.f("ck_ledger_entries_refunds_within_amount"), type_="check")
        batch_op.drop_index("ix_ledger_entries_completed")
        batch_op.drop_index("ix_ledger_entries_refund_of")
        batch_op.drop_constraint(
            op.f("fk_ledger_entries_refund_of_ledger_entries"), type_="foreignkey"
        )
        batch_op.alter_column(
            "idempotency_key",
            existing_type=sa.String(length=300),
            type_=sa.String(length=255),
            existing_nullable=True,
        )
        batch_op.drop_column("error_message")
        batch_op.drop_column("refunded_minutes")
        batch_op.drop_column("refunded_amount")
        batch_op.drop_column("refund_of")
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_column("livemode")
