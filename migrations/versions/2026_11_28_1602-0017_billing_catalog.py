"""billing: plans, add-ons, coupons, tax rates, customers, subscriptions, invoices,
invoice payments and MRR movements

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import commbase.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_addons",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("pricing", sa.String(length=20), nullable=False),
        sa.Column("interval", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "requires_addons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "requires_features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("archived_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_billing_addons_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_addons_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_addons")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_billing_addons_org_id_code")),
    )
    op.create_table(
        "billing_coupons",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=True),
        sa.Column("amount_off", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("duration", sa.String(length=20), nullable=False),
        sa.Column("duration_months", sa.Integer(), nullable=True),
        sa.Column("archived_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(percent_off IS NULL) <> (amount_off IS NULL)",
            name=op.f("ck_billing_coupons_percent_or_amount"),
        ),
        sa.CheckConstraint(
            "amount_off IS NULL OR amount_off > 0", name=op.f("ck_billing_coupons_amount_positive")
        ),
        sa.CheckConstraint(
            "percent_off IS NULL OR (percent_off > 0 AND percent_off <= 100)",
            name=op.f("ck_billing_coupons_percent_range"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_coupons_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_coupons")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_billing_coupons_org_id_code")),
    )
    op.create_table(
        "billing_customers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reference_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column(
            "address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tax_country", sa.String(length=2), nullable=True),
        sa.Column("tax_id", sa.String(length=40), nullable=True),
        sa.Column("default_payment_method", sa.String(length=40), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_customers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_customers")),
        sa.UniqueConstraint(
            "org_id",
            "kind",
            "reference_id",
            name=op.f("uq_billing_customers_org_id_kind_reference_id"),
        ),
    )
    op.create_index(
        "ix_billing_customers_reference",
        "billing_customers",
        ["kind", "reference_id"],
        unique=False,
    )
    op.create_table(
        "billing_invoice_counters",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_invoice_counters_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_billing_invoice_counters")),
    )
    op.create_table(
        "billing_mrr_movements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("mrr_before", sa.BigInteger(), nullable=False),
        sa.Column("mrr_after", sa.BigInteger(), nullable=False),
        sa.Column("active_delta", sa.SmallInteger(), nullable=False),
        sa.Column("org_currency", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_mrr_movements_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_mrr_movements")),
    )
    op.create_index(
        "ix_billing_mrr_movements_customer",
        "billing_mrr_movements",
        ["customer_id", "currency"],
        unique=False,
    )
    op.create_index(
        "ix_billing_mrr_movements_org_created",
        "billing_mrr_movements",
        ["org_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_billing_mrr_movements_org_occurred",
        "billing_mrr_movements",
        ["org_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_billing_mrr_movements_subscription",
        "billing_mrr_movements",
        ["subscription_id"],
        unique=False,
    )
    op.create_table(
        "billing_plans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("interval", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pricing", sa.String(length=20), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("included_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("archived_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_billing_plans_amount_not_negative")),
        sa.CheckConstraint(
            "included_minutes >= 0", name=op.f("ck_billing_plans_minutes_not_negative")
        ),
        sa.CheckConstraint("trial_days >= 0", name=op.f("ck_billing_plans_trial_not_negative")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_plans_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_billing_plans_org_id_code")),
    )
    op.create_table(
        "billing_tax_rates",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("percent", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("inclusive", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_tax_rates_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_tax_rates")),
        sa.UniqueConstraint("org_id", "country", name=op.f("uq_billing_tax_rates_org_id_country")),
    )
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval", sa.String(length=10), nullable=False),
        sa.Column("coupon_id", sa.String(length=40), nullable=True),
        sa.Column("discount_active", sa.Boolean(), nullable=False),
        sa.Column("discount_ends_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trial_end", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("billing_anchor", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "current_period_start", commbase.core.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "current_period_end", commbase.core.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("cancellation_reason", sa.String(length=500), nullable=True),
        sa.Column("cancelled_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("credit_balance", sa.BigInteger(), nullable=False),
        sa.Column("mrr", sa.BigInteger(), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "credit_balance >= 0", name=op.f("ck_billing_subscriptions_credit_not_negative")
        ),
        sa.CheckConstraint("mrr >= 0", name=op.f("ck_billing_subscriptions_mrr_not_negative")),
        sa.CheckConstraint(
            "quantity >= 1", name=op.f("ck_billing_subscriptions_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"],
            ["billing_coupons.id"],
            name=op.f("fk_billing_subscriptions_coupon_id_billing_coupons"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.id"],
            name=op.f("fk_billing_subscriptions_customer_id_billing_customers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_subscriptions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["billing_plans.id"],
            name=op.f("fk_billing_subscriptions_plan_id_billing_plans"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscriptions")),
    )
    op.create_index(
        "ix_billing_subscriptions_org_customer",
        "billing_subscriptions",
        ["org_id", "customer_id"],
        unique=False,
    )
    op.create_index(
        "ix_billing_subscriptions_period_end",
        "billing_subscriptions",
        ["current_period_end"],
        unique=False,
    )
    op.create_table(
        "billing_invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("billing_reason", sa.String(length=30), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("tax_percent", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("tax_inclusive", sa.Boolean(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("credit_applied", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("coupon_id", sa.String(length=40), nullable=True),
        sa.Column("due_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finalized_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("voided_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("memo", sa.String(length=1000), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_paid >= 0 AND credit_applied >= 0 AND amount_paid + credit_applied <= total",
            name=op.f("ck_billing_invoices_paid_within_total"),
        ),
        sa.CheckConstraint("total >= 0", name=op.f("ck_billing_invoices_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["billing_customers.id"],
            name=op.f("fk_billing_invoices_customer_id_billing_customers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_invoices_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["billing_subscriptions.id"],
            name=op.f("fk_billing_invoices_subscription_id_billing_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoices")),
        sa.UniqueConstraint("org_id", "sequence", name=op.f("uq_billing_invoices_org_id_sequence")),
    )
    op.create_index(
        "ix_billing_invoices_org_customer",
        "billing_invoices",
        ["org_id", "customer_id"],
        unique=False,
    )
    op.create_index(
        "ix_billing_invoices_org_status", "billing_invoices", ["org_id", "status"], unique=False
    )
    op.create_index(
        "ix_billing_invoices_org_created",
        "billing_invoices",
        ["org_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_billing_invoices_org_updated",
        "billing_invoices",
        ["org_id", "updated_at"],
        unique=False,
    )
    op.create_index(
        "uq_billing_invoices_subscription_period",
        "billing_invoices",
        ["subscription_id", "period_start"],
        unique=True,
        sqlite_where=sa.text("billing_reason IN ('subscription_create', 'subscription_cycle')"),
        postgresql_where=sa.text("billing_reason IN ('subscription_create', 'subscription_cycle')"),
    )
    op.create_table(
        "billing_subscription_addons",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("addon_id", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "quantity >= 1", name=op.f("ck_billing_subscription_addons_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["addon_id"],
            ["billing_addons.id"],
            name=op.f("fk_billing_subscription_addons_addon_id_billing_addons"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_subscription_addons_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["billing_subscriptions.id"],
            name=op.f("fk_billing_subscription_addons_subscription_id_billing_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscription_addons")),
        sa.UniqueConstraint(
            "subscription_id",
            "addon_id",
            name=op.f("uq_billing_subscription_addons_subscription_id_addon_id"),
        ),
    )
    op.create_table(
        "billing_invoice_lines",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=True),
        sa.Column("addon_id", sa.String(length=40), nullable=True),
        sa.Column("period_start", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_invoice_lines_invoice_id_billing_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_invoice_lines_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoice_lines")),
    )
    op.create_index(
        "ix_billing_invoice_lines_invoice", "billing_invoice_lines", ["invoice_id"], unique=False
    )
    op.create_table(
        "billing_invoice_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.Column("ledger_entry_id", sa.String(length=40), nullable=True),
        sa.Column("paid_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_billing_invoice_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing_invoices.id"],
            name=op.f("fk_billing_invoice_payments_invoice_id_billing_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_billing_invoice_payments_ledger_entry_id_ledger_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_invoice_payments_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoice_payments")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_billing_invoice_payments_idempotency_key")
        ),
    )
    op.create_index(
        "ix_billing_invoice_payments_invoice",
        "billing_invoice_payments",
        ["invoice_id"],
        unique=False,
    )
    op.create_index(
        "ix_billing_invoice_payments_org_created",
        "billing_invoice_payments",
        ["org_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "billing_licenses",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("holder_org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("assigned_by", sa.String(length=40), nullable=True),
        sa.Column("assigned_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unassigned_at", commbase.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", commbase.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_billing_licenses_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["billing_subscriptions.id"],
            name=op.f("fk_billing_licenses_subscription_id_billing_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_licenses")),
    )
    op.create_index(
        "ix_billing_licenses_holder", "billing_licenses", ["holder_org_id", "user_id"], unique=False
    )
    op.create_index(
        "ix_billing_licenses_org_subscription",
        "billing_licenses",
        ["org_id", "subscription_id"],
        unique=False,
    )
    op.create_index(
        "uq_billing_licenses_live",
        "billing_licenses",
        ["subscription_id", "user_id"],
        unique=True,
        sqlite_where=sa.text("unassigned_at IS NULL"),
        postgresql_where=sa.text("unassigned_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("billing_licenses")
    op.drop_table("billing_invoice_payments")
    op.drop_table("billing_invoice_lines")
    op.drop_table("billing_subscription_addons")
    op.drop_table("billing_invoices")
    op.drop_table("billing_subscriptions")
    op.drop_table("billing_tax_rates")
    op.drop_table("billing_plans")
    op.drop_table("billing_mrr_movements")
    op.drop_table("billing_invoice_counters")
    op.drop_table("billing_customers")
    op.drop_table("billing_coupons")
    op.drop_table("billing_addons")
