"""Licenses: a subscription's seats assigned to users, with their history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id


class License(Base):
    """One assignment of a seat to a user; unassigning ends it (the row stays as history)."""

    __tablename__ = "billing_licenses"
    __table_args__ = (
        Index("ix_billing_licenses_org_subscription", "org_id", "subscription_id"),
        Index("ix_billing_licenses_holder", "holder_org_id", "user_id"),
        # A user holds at most one live seat of a subscription.
        Index(
            "uq_billing_licenses_live",
            "subscription_id",
            "user_id",
            unique=True,
            sqlite_where=text("unassigned_at IS NULL"),
            postgresql_where=text("unassigned_at IS NULL"),
        ),
    )

    id: Mapped[str] = public_id("lic")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("billing_subscriptions.id", ondelete="CASCADE")
    )
    customer_id: Mapped[str] = mapped_column(String(40))
    # The organization the user belongs to: the customer organization, or the seller's own
    # for a member customer. Entitlements are checked there.
    holder_org_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    assigned_by: Mapped[str | None] = mapped_column(String(40))
    assigned_at: Mapped[datetime]
    unassigned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
