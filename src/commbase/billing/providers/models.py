"""Refunds of invoice payments (the payments are ``billing_invoice_payments``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id


class PaymentRefund(Base):
    """Money given back from one payment; a payment's refunds never exceed it."""

    __tablename__ = "billing_payment_refunds"
    __table_args__ = (
        Index("ix_billing_payment_refunds_payment", "org_id", "payment_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = public_id("pre")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    payment_id: Mapped[str] = mapped_column(
        ForeignKey("billing_invoice_payments.id", ondelete="RESTRICT")
    )
    invoice_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))  # RefundStatus
    reason: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    ledger_entry_id: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None]
