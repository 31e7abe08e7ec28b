"""Subscriptions and their add-ons."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id, updated_at_column


class Subscription(Base):
    """A customer's plan, renewed each period until cancelled."""

    __tablename__ = "billing_subscriptions"
    __table_args__ = (
        Index("ix_billing_subscriptions_org_customer", "org_id", "customer_id"),
        Index("ix_billing_subscriptions_period_end", "current_period_end"),
        # Analytics' change time (trial conversion: billing.revenue.trials).
        Index("ix_billing_subscriptions_org_updated", "org_id", "updated_at"),
        Index("ix_billing_subscriptions_payment_retry", "next_payment_retry_at"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("credit_balance >= 0", name="credit_not_negative"),
        CheckConstraint("mrr >= 0", name="mrr_not_negative"),
    )

    id: Mapped[str] = public_id("sub")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("billing_customers.id", ondelete="RESTRICT")
    )
    plan_id: Mapped[str] = mapped_column(ForeignKey("billing_plans.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20))  # SubscriptionStatus
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(10))
    coupon_id: Mapped[str | None] = mapped_column(
        ForeignKey("billing_coupons.id", ondelete="RESTRICT")
    )
    # Whether the coupon discounts the current period; false once a "once" coupon was
    # used or a "repeating" one ran out (at the renewal that starts past discount_ends_at).
    discount_active: Mapped[bool] = mapped_column(default=False)
    discount_ends_at: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    # Periods end whole months after the anchor (Jan 31, Feb 28, Mar 31, ...).
    billing_anchor: Mapped[datetime]
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    cancellation_reason: Mapped[str | None] = mapped_column(String(500))
    cancelled_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Owed to the customer (downgrades), taken off the next invoices.
    credit_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Monthly recurring revenue as last written to the MRR movements.
    mrr: Mapped[int] = mapped_column(BigInteger, default=0)
    # Dunning (billing.providers.dunning): failed charges of the overdue invoice so
    # far, and when the next retry is due.
    payment_attempts: Mapped[int] = mapped_column(default=0)
    next_payment_retry_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SubscriptionAddOn(Base):
    """An add-on on a subscription, with its quantity."""

    __tablename__ = "billing_subscription_addons"
    __table_args__ = (
        UniqueConstraint("subscription_id", "addon_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[str] = public_id("subao")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("billing_subscriptions.id", ondelete="CASCADE")
    )
    addon_id: Mapped[str] = mapped_column(ForeignKey("billing_addons.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = created_at_column()
