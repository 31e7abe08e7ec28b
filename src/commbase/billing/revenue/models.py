"""MRR movements: every change of a subscription's monthly recurring revenue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id


class MrrMovement(Base):
    """One change of one subscription's MRR, written in the transaction that changed it.

    ``amount`` is signed (``mrr_after - mrr_before``), so MRR at any moment is the sum of
    the movements before it; rows are never updated.
    """

    __tablename__ = "billing_mrr_movements"
    __table_args__ = (
        Index("ix_billing_mrr_movements_org_occurred", "org_id", "occurred_at"),
        Index("ix_billing_mrr_movements_org_created", "org_id", "created_at"),
        Index("ix_billing_mrr_movements_subscription", "subscription_id"),
        Index("ix_billing_mrr_movements_customer", "customer_id", "currency"),
    )

    id: Mapped[str] = public_id("mrr")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    plan_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))  # MovementKind
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    mrr_before: Mapped[int] = mapped_column(BigInteger)
    mrr_after: Mapped[int] = mapped_column(BigInteger)
    # +1 new/reactivation, -1 churn, 0 otherwise: active subscriptions are their sum.
    active_delta: Mapped[int] = mapped_column(SmallInteger)
    # The movement's currency was the organization's when it was written (what
    # single-currency figures such as the snapshot's MRR count).
    org_currency: Mapped[bool] = mapped_column()
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
