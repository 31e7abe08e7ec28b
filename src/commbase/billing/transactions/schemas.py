"""Transaction and billing summary shapes (seed 002)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from commbase.billing.enums import LedgerStatus
from commbase.billing.transactions.enums import TransactionType
from commbase.core.schemas import ReadSchema


class TransactionRead(ReadSchema):
    """One ledger entry seen as seed 002's transaction; ``id`` is the ledger entry's."""

    id: str
    user_id: str
    type: TransactionType
    amount: int = Field(description="Minor units, always >= 0 (a refund's direction is its type)")
    currency: str
    status: LedgerStatus
    category: str = Field(description="The ledger category behind it")
    payment_method: str | None
    provider_transaction_id: str | None = Field(
        description="The provider's payment id (Stripe's PaymentIntent)"
    )
    wallet_id: str | None = Field(description="The user's wallet (top-ups and their refunds)")
    invoice_id: str | None
    invoice_number: str | None
    subscription_id: str | None
    refund_of: str | None
    refunded_amount: int
    description: str | None
    receipt_number: str | None
    receipt_url: str | None = Field(
        description="The document: a completed top-up's receipt, or the paid invoice (PDF)"
    )
    created_at: datetime
    completed_at: datetime | None


class CurrencySummary(ReadSchema):
    """Completed money per currency; ``net = purchases + subscriptions - refunds``."""

    currency: str
    purchases: int
    subscriptions: int
    refunds: int
    net: int
    pending: int = Field(description="Payments not yet settled by their provider")
    outstanding: int = Field(description="Still due on the user's open invoices")
    transactions: int


class BillingSummary(ReadSchema):
    user_id: str
    transactions: int
    last_transaction_at: datetime | None
    currencies: list[CurrencySummary]
