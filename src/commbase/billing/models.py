"""Wallets, the append-only ledger and per-minute rates.

Money is integer minor units of an ISO 4217 currency (cents, yen, millimes);
per-minute rates are ``Decimal`` with six places, because carriers price in
fractions of a cent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id, updated_at_column
from commbase.core.indexes import where_set


class Wallet(Base):
    """A prepaid balance belonging to an organization, a user or a guest agent session."""

    __tablename__ = "wallets"
    __table_args__ = (
        UniqueConstraint("org_id", "owner_type", "owner_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("held >= 0 AND held <= balance", name="held_within_balance"),
        CheckConstraint("balance_minutes >= 0", name="minutes_not_negative"),
        CheckConstraint(
            "held_minutes >= 0 AND held_minutes <= balance_minutes", name="held_minutes_within"
        ),
    )

    id: Mapped[str] = public_id("wal")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    owner_type: Mapped[str] = mapped_column(String(20))  # OwnerType
    owner_id: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)  # reserved by calls in progress
    balance_minutes: Mapped[int] = mapped_column(default=0)
    held_minutes: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20), default="active")  # WalletStatus
    provider: Mapped[str] = mapped_column(String(20), default="manual")  # PaymentProvider
    # False for a wallet opened with test credentials: its payments use the
    # provider's sandbox (Stripe test mode), never real money.
    livemode: Mapped[bool] = mapped_column(default=True, server_default=true())
    provider_customer_id: Mapped[str | None] = mapped_column(String(100))
    provider_payment_method_id: Mapped[str | None] = mapped_column(String(100))
    auto_recharge: Mapped[bool] = mapped_column(default=False)
    auto_recharge_threshold: Mapped[int | None] = mapped_column(BigInteger)
    auto_recharge_amount: Mapped[int | None] = mapped_column(BigInteger)
    low_balance_threshold: Mapped[int | None] = mapped_column(BigInteger)
    daily_spend_limit: Mapped[int | None] = mapped_column(BigInteger)
    last_transaction_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class LedgerEntry(Base):
    """One money movement. Rows are never updated in place except to settle a
    pending entry (``completed`` or ``failed``) and to count the refunds made
    against them; corrections are new entries."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_org_created", "org_id", "created_at"),
        Index("ix_ledger_entries_wallet_created", "wallet_id", "created_at"),
        Index("ix_ledger_entries_org_call", "org_id", "related_call_id"),
        # Only payments and refunds have these (a call's charge has neither): the
        # entries that have one are indexed (queries name a value, migration 0055).
        Index(
            "ix_ledger_entries_provider_txn",
            "provider_transaction_id",
            **where_set("provider_transaction_id"),
        ),
        Index(
            "ix_ledger_entries_refund_of",
            "refund_of",
            **where_set("refund_of"),
        ),
        Index("ix_ledger_entries_completed", "completed_at"),  # analytics' change time
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refunds_within_amount"
        ),
        CheckConstraint(
            "refunded_minutes >= 0 AND refunded_minutes <= minutes", name="refunds_within_minutes"
        ),
    )

    id: Mapped[str] = public_id("txn")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id", ondelete="RESTRICT"))
    type: Mapped[str] = mapped_column(String(20))  # LedgerType
    category: Mapped[str] = mapped_column(String(30))  # LedgerCategory
    status: Mapped[str] = mapped_column(String(20), default="completed")  # LedgerStatus
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units, always >= 0
    minutes: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    balance_before: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    minutes_before: Mapped[int] = mapped_column(default=0)
    minutes_after: Mapped[int] = mapped_column(default=0)
    # A call's id, or an anonymous reference once a private call has been erased.
    related_call_id: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(40))
    agent_session_id: Mapped[str | None] = mapped_column(String(40))
    payment_method: Mapped[str | None] = mapped_column(String(20))  # PaymentMethod
    provider_transaction_id: Mapped[str | None] = mapped_column(String(100))
    plan: Mapped[str | None] = mapped_column(String(40))
    # The request's credential-scoped Idempotency-Key (core.idempotency.request_key),
    # or a key derived from what caused the entry (``call:<id>``, ``stripe:<intent>``).
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    # A refund points at the entry it refunds; that entry counts what was refunded.
    refund_of: Mapped[str | None] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT")
    )
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refunded_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    description: Mapped[str | None] = mapped_column(String(500))
    receipt_number: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None]


class Rate(Base):
    """Price per minute for calls to a destination (``direction`` inbound: from a
    caller's country); null country or line type matches any."""

    __tablename__ = "rates"
    __table_args__ = (UniqueConstraint("org_id", "direction", "country", "line_type"),)

    id: Mapped[str] = public_id("rate")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # outbound: calls placed, by destination; inbound: calls answered, by the caller.
    direction: Mapped[str] = mapped_column(
        String(10), default="outbound", server_default="outbound"
    )
    country: Mapped[str | None] = mapped_column(String(2))
    line_type: Mapped[str | None] = mapped_column(String(20))  # core.phones.LineType
    currency: Mapped[str] = mapped_column(String(3))
    per_minute: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
