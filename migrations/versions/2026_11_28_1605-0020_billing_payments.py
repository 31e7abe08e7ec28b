"""billing: payment providers for invoices -- provider payment ids, failures and
refunded amounts on invoice payments; refunds of payments; per-plan dunning
(retry days, final action) and each subscription's dunning state

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = commbase.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("billing_invoice_payments") as batch:
        batch.add_column(sa.Column("provider_payment_id", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("refunded_amount", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("failure_code", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("failure_message", sa.String(length=500), nullable=True))
        batch.add_column(
            sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_check_constraint(
            op.f("ck_billing_invoice_payments_refunds_within_amount"),
            "refunded_amount >= 0 AND refunded_amount <= amount",
        )
    with op.batch_alter_table("billing_invoice_payments") as batch:
        batch.alter_column("refunded_amount", server_default=None)
        batch.alter_column("automatic", server_default=None)
    op.create_index(
        "uq_billing_invoice_payments_provider_id",
        "billing_invoice_payments",
        ["provider", "provider_payment_id"],
        unique=True,
    )

    with op.batch_alter_table("billing_plans") as batch:
        batch.add_column(
            sa.Column("dunning_retry_days", JSON, nullable=False, server_default="[1, 3, 5]")
        )
        batch.add_column(
            sa.Column(
                "dunning_action", sa.String(length=10), nullable=False, server_default="cancel"
            )
        )
    with op.batch_alter_table("billing_plans") as batch:
        batch.alter_column("dunning_retry_days", server_default=None)
        batch.alter_column("dunning_action", server_default=None)

    with op.batch_alter_table("billing_subscriptions") as batch:
        batch.add_column(
            sa.Column("payment_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_payment_retry_at", UTC, nullable=True))
    with op.batch_alter_table("billing_subscriptions") as batch:
        batch.alter_column("payment_attempts", server_default=None)
    op.create_index(
        "ix_billing_subscriptions_payment_retry",
        "billing_subscriptions",
        ["next_payment_retry_at"],
        unique=False,
    )

    op.create_table(
        "billing_payment_refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.Column("provider_refund_id", sa.String(length=200), nullable=True),
        sa.Column("failure_code", sa.String(length=100), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("ledger_entry_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("completed_at", UTC, nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_billing_payment_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_payment_refunds_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["billing_invoice_payments.id"],
            name=op.f("fk_billing_payment_refunds_payment_id_billing_invoice_payments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_billing_payment_refunds_ledger_entry_id_ledger_entries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_payment_refunds")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_billing_payment_refunds_idempotency_key")
        ),
    )
    op.create_index(
        "ix_billing_payment_refunds_payment",
        "billing_payment_refunds",
        ["org_id", "payment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_billing_payment_refunds_payment", table_name="billing_payment_refunds")
    op.drop_table("billing_payment_refunds")
    op.drop_index("ix_billing_subscriptions_payment_retry", table_name="billing_subscriptions")
    with op.batch_alter_table("billing_subscriptions") as batch:
        batch.drop_column("next_payment_retry_at")
        batch.drop_column("payment_attempts")
    with op.batch_alter_table("billing_plans") as batch:
        batch.drop_column("dunning_action")
        batch.drop_column("dunning_retry_days")
    op.drop_index("uq_billing_invoice_payments_provider_id", table_name="billing_invoice_payments")
    with op.batch_alter_table("billing_invoice_payments") as batch:
        batch.drop_constraint(
            op.f("ck_billing_invoice_payments_refunds_within_amount"), type_="check"
        )
        batch.drop_column("automatic")
        batch.drop_column("failure_message")
        batch.drop_column("failure_code")
        batch.drop_column("refunded_amount")
        batch.drop_column("provider_payment_id")
