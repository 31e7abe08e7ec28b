"""Event types the billing domain records in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class LedgerEntryPayload(EventPayload):
    id: str
    wallet_id: str
    type: str
    category: str
    amount: int
    minutes: int
    currency: str
    balance_after: int
    related_call_id: str | None


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
