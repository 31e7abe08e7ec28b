"""Event types the billing domain records in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class LedgerEntryPayload(EventPayload):
    id: str
    wallet_id: str
    type: str
    category: str
    status: str
    amount: int
    minutes: int
    currency: str
    balance_after: int
    related_call_id: str | None
    refund_of: str | None = None


class PaymentFailed(LedgerEntryPayload):
    error_code: str | None
    error_message: str | None


class LowBalance(EventPayload):
    wallet_id: str
    balance: int
    threshold: int
    currency: str


WALLET_CREDITED = define("wallet.credited", LedgerEntryPayload, "Money was added to a wallet.")
WALLET_DEBITED = define("wallet.debited", LedgerEntryPayload, "Money was taken from a wallet.")
WALLET_LOW_BALANCE = define(
    "wallet.low_balance", LowBalance, "A wallet's balance fell under its threshold."
)
WALLET_RECHARGED = define(
    "wallet.recharged", LedgerEntryPayload, "A wallet was topped up automatically."
)
WALLET_RECHARGE_REQUESTED = define(
    "wallet.recharge_requested",
    LedgerEntryPayload,
    "An automatic recharge was asked of the wallet's payment provider (pending entry).",
)
WALLET_REFUND_REQUESTED = define(
    "wallet.refund_requested",
    LedgerEntryPayload,
    "A refund was asked of the payment provider that took the original payment (pending entry).",
)
WALLET_REFUNDED = define(
    "wallet.refunded",
    LedgerEntryPayload,
    "A refund completed: a call charge given back, or a top-up taken back and returned.",
)
WALLET_PAYMENT_FAILED = define(
    "wallet.payment_failed",
    PaymentFailed,
    "A provider payment (top-up, recharge or refund) failed; nothing moved.",
)
