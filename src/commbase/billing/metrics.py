"""Money metrics from the ledger: top-ups (revenue), call charges, refunds.

Ledger entries are never changed once written, so ``created_at`` is both the
time a movement counts in and its change time.
"""

from __future__ import annotations

from sqlalchemy import and_

from commbase.analytics.registry import Source, average, count, register, register_section, total
from commbase.billing.models import LedgerEntry

LEDGER = Source(
    "ledger_entries",
    LedgerEntry.__table__,
    org=LedgerEntry.org_id,
    time=LedgerEntry.created_at,
    changed=LedgerEntry.created_at,
    dimensions={
        "type": LedgerEntry.type,
        "category": LedgerEntry.category,
        "currency": LedgerEntry.currency,
        "payment_method": LedgerEntry.payment_method,
        "user": LedgerEntry.user_id,
        "agent_session": LedgerEntry.agent_session_id,
    },
)

TOPUP = and_(
    LedgerEntry.type == "credit",
    LedgerEntry.category == "wallet_topup",
    LedgerEntry.status == "completed",
)
CHARGE = and_(LedgerEntry.type == "debit", LedgerEntry.status == "completed")
REFUND = and_(LedgerEntry.type == "refund", LedgerEntry.status == "completed")

register(
    total(
        "revenue.topups",
        LEDGER,
        LedgerEntry.amount,
        "Wallet top-ups paid",
        where=TOPUP,
        unit="minor",
    ),
    count("revenue.topup_count", LEDGER, "Wallet top-ups", where=TOPUP),
    average(
        "revenue.topup_avg", LEDGER, LedgerEntry.amount, "Average top-up", where=TOPUP, unit="minor"
    ),
    total(
        "revenue.charges",
        LEDGER,
        LedgerEntry.amount,
        "Charged from wallets",
        where=CHARGE,
        unit="minor",
    ),
    total(
        "revenue.call_charges",
        LEDGER,
        LedgerEntry.amount,
        "Charged for calls",
        where=and_(CHARGE, LedgerEntry.category == "call_charge"),
        unit="minor",
    ),
    total("revenue.refunds", LEDGER, LedgerEntry.amount, "Refunded", where=REFUND, unit="minor"),
    count("wallet.transactions", LEDGER, "Ledger entries"),
)
register_section(
    "revenue",
    {
        "topups": "revenue.topups",
        "topupCount": "revenue.topup_count",
        "charges": "revenue.charges",
        "callCharges": "revenue.call_charges",
        "refunds": "revenue.refunds",
    },
)
