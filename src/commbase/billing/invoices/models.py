"""Invoices, their lines and payments, and the per-organization number counter."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id, updated_at_column


class InvoiceCounter(Base):
    """The last invoice number an organization gave; incremented in the finalizing
    transaction, so a rolled-back invoice gives its number back (no gaps)."""

    __tablename__ = "billing_invoice_counters"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class Invoice(Base):
    """What a customer owes for a period or a one-off sale."""

    __tablename__ = "billing_invoices"
    __table_args__ = (
        UniqueConstraint("org_id", "sequence"),
        Index("ix_billing_invoices_org_customer", "org_id", "customer_id"),
        Index("ix_billing_invoices_org_status", "org_id", "status"),
        Index("ix_billing_invoices_org_created", "org_id", "created_at"),
        Index("ix_billing_invoices_org_updated", "org_id", "updated_at"),  # analytics' change time
        # One invoice per subscription and period, however often renewals run.
        Index(
            "uq_billing_invoices_subscription_period",
            "subscription_id",
            "period_start",
            unique=True,
            sqlite_where=text("billing_reason IN ('subscription_create', 'subscription_cycle')"),
            postgresql_where=text(
                "billing_reason IN ('subscription_create', 'subscription_cycle')"
            ),
        ),
        CheckConstraint(
            "amount_paid >= 0 AND credit_applied >= 0 AND amount_paid + credit_applied <= total",
            name="paid_within_total",
        ),
        CheckConstraint("total >= 0", name="total_not_negative"),
    )

    id: Mapped[str] = public_id("inv")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("billing_customers.id", ondelete="RESTRICT")
    )
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("billing_subscriptions.id", ondelete="RESTRICT")
    )
    sequence: Mapped[int | None] = mapped_column(BigInteger)  # given when finalized
    number: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # InvoiceStatus
    billing_reason: Mapped[str] = mapped_column(String(30))  # BillingReason
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_percent: Mapped[Decimal] = mapped_column(Numeric(7, 4), default=Decimal(0))
    tax_inclusive: Mapped[bool] = mapped_column(default=False)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_applied: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_id: Mapped[str | None] = mapped_column(String(40))
    due_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    memo: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class InvoiceLine(Base):
    """One line: a plan, an add-on, a proration, usage or a one-off item."""

    __tablename__ = "billing_invoice_lines"
    __table_args__ = (Index("ix_billing_invoice_lines_invoice", "invoice_id"),)

    id: Mapped[str] = public_id("il")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("billing_invoices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # LineKind
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(default=1)
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # may be negative (a credit)
    plan_id: Mapped[str | None] = mapped_column(String(40))
    addon_id: Mapped[str | None] = mapped_column(String(40))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class InvoicePayment(Base):
    """Money received against an invoice; the invoice's payments never exceed its total.
    A payment posts once to the ledger (``ledger_entry_id``)."""

    __tablename__ = "billing_invoice_payments"
    __table_args__ = (
        Index("ix_billing_invoice_payments_invoice", "invoice_id"),
        Index("ix_billing_invoice_payments_org_created", "org_id", "created_at"),
        # One row per provider payment (a PaymentIntent, a PayPal order, a Cashfree order).
        Index(
            "uq_billing_invoice_payments_provider_id",
            "provider",
            "provider_payment_id",
            unique=True,
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refunds_within_amount"
        ),
    )

    id: Mapped[str] = public_id("pay")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("billing_invoices.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(20), default="manual")
    status: Mapped[str] = mapped_column(String(20))  # InvoicePaymentStatus
    reference: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    ledger_entry_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT")
    )
    paid_at: Mapped[datetime | None]
    # Set by billing.providers: the provider's id for the payment, what was refunded,
    # why it failed, and whether dunning charged it (a saved payment method).
    provider_payment_id: Mapped[str | None] = mapped_column(String(200))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    automatic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at_column()
