"""Money metrics from the ledger: top-ups (revenue), call charges, refunds.

A movement counts at ``created_at``. Entries change only when a pending provider
payment settles (completed or failed), which sets ``completed_at``: that is their
change time (set at once for entries that never were pending), so a payment
settled hours later is folded into its hour again. Pending entries count nowhere.
"""

from __future__ import annotations

from sqlalchemy import and_

from commbase.analytics.registry import (
    Entry,
    Source,
    average,
    count,
    register,
    register_section,
    total,
)
from commbase.billing.enums import LedgerCategory, LedgerStatus, LedgerType
from commbase.billing.models import LedgerEntry

LEDGER = Source(
    "ledger_entries",
    LedgerEntry.__table__,
    org=LedgerEntry.org_id,
    time=LedgerEntry.created_at,
    changed=LedgerEntry.completed_at,
    dimensions={
        "type": LedgerEntry.type,
        "category": LedgerEntry.category,
        "currency": LedgerEntry.currency,
        "payment_method": LedgerEntry.payment_method,
        "user": LedgerEntry.user_id,
        "agent_session": LedgerEntry.agent_session_id,
    },
    unrolled=frozenset({"user", "agent_session"}),  # many values an hour: read raw
)

TOPUP = and_(
    LedgerEntry.type == LedgerType.CREDIT,
    LedgerEntry.category == LedgerCategory.WALLET_TOPUP,
    LedgerEntry.status == LedgerStatus.COMPLETED,
)
CHARGE = and_(LedgerEntry.type == LedgerType.DEBIT, LedgerEntry.status == LedgerStatus.COMPLETED)
REFUND = and_(LedgerEntry.type == LedgerType.REFUND, LedgerEntry.status == LedgerStatus.COMPLETED)

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
        where=and_(CHARGE, LedgerEntry.category == LedgerCategory.CALL_CHARGE),
        unit="minor",
    ),
    total("revenue.refunds", LEDGER, LedgerEntry.amount, "Refunded", where=REFUND, unit="minor"),
    total(
        "revenue.invoice_payments",
        LEDGER,
        LedgerEntry.amount,
        "Paid on invoices (the revenue wallets' credits)",
        where=and_(
            LedgerEntry.type == LedgerType.CREDIT,
            LedgerEntry.category == LedgerCategory.INVOICE_PAYMENT,
            LedgerEntry.status == LedgerStatus.COMPLETED,
        ),
        unit="minor",
    ),
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
        "invoicePayments": "revenue.invoice_payments",
        # From billing.revenue.metrics: at the period's end, in the organization's currency.
        "mrr": Entry("revenue.mrr", cumulative=True),
        "arr": Entry("revenue.arr", cumulative=True),
    },
)
