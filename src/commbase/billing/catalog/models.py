"""What an organization sells: plans, add-ons, coupons, and its tax rates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id, updated_at_column


class Plan(Base):
    """A recurring price: per period, flat or per seat, with what it entitles to."""

    __tablename__ = "billing_plans"
    __table_args__ = (
        UniqueConstraint("org_id", "code"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("trial_days >= 0", name="trial_not_negative"),
        CheckConstraint("included_minutes >= 0", name="minutes_not_negative"),
    )

    id: Mapped[str] = public_id("plan")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    interval: Mapped[str] = mapped_column(String(10))  # Interval
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units per period (per seat)
    currency: Mapped[str] = mapped_column(String(3))
    pricing: Mapped[str] = mapped_column(String(20))  # PlanPricing
    trial_days: Mapped[int] = mapped_column(default=0)
    # Package minutes credited to the customer's wallet at the start of each period.
    included_minutes: Mapped[int] = mapped_column(default=0)
    features: Mapped[list[str]] = mapped_column(default=list)
    # Dunning (set through billing.providers: PUT /v1/billing/plans/{id}/dunning):
    # days after a failed renewal charge to retry, then "cancel" or "pause".
    dunning_retry_days: Mapped[list[int]] = mapped_column(default=lambda: [1, 3, 5])
    dunning_action: Mapped[str] = mapped_column(String(10), default="cancel")
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class AddOn(Base):
    """Something sold on top of a plan, flat, per unit or per unit of usage."""

    __tablename__ = "billing_addons"
    __table_args__ = (
        UniqueConstraint("org_id", "code"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[str] = public_id("addon")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(60))
    pricing: Mapped[str] = mapped_column(String(20))  # AddOnPricing
    interval: Mapped[str] = mapped_column(String(10))  # Interval
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Codes of add-ons that must be on the subscription too, and plan features it needs.
    requires_addons: Mapped[list[str]] = mapped_column(default=list)
    requires_features: Mapped[list[str]] = mapped_column(default=list)
    # Usage-priced add-ons: what they count (UsageMeter); null for the others.
    usage_meter: Mapped[str | None] = mapped_column(String(20))
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Coupon(Base):
    """A discount: a percentage or an amount off, once, for some months, or forever."""

    __tablename__ = "billing_coupons"
    __table_args__ = (
        UniqueConstraint("org_id", "code"),
        CheckConstraint("(percent_off IS NULL) <> (amount_off IS NULL)", name="percent_or_amount"),
        CheckConstraint(
            "percent_off IS NULL OR (percent_off > 0 AND percent_off <= 100)", name="percent_range"
        ),
        CheckConstraint("amount_off IS NULL OR amount_off > 0", name="amount_positive"),
    )

    id: Mapped[str] = public_id("coup")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    percent_off: Mapped[int | None]
    amount_off: Mapped[int | None] = mapped_column(BigInteger)  # per period
    currency: Mapped[str | None] = mapped_column(String(3))  # with amount_off
    duration: Mapped[str] = mapped_column(String(20))  # CouponDuration
    duration_months: Mapped[int | None]
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TaxRate(Base):
    """The tax an organization charges customers of one country (``country`` null:
    everyone else), added to the price or included in it."""

    __tablename__ = "billing_tax_rates"
    __table_args__ = (UniqueConstraint("org_id", "country"),)

    id: Mapped[str] = public_id("txr")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    country: Mapped[str | None] = mapped_column(String(2))
    percent: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    inclusive: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
