"""Payment events, and the internal requests that effects carry out after commit."""

from __future__ import annotations

from datetime import datetime

from commbase.billing.invoices.events import InvoicePayload
from commbase.core.events import EventPayload, define


class PaymentPayload(EventPayload):
    id: str
    invoice_id: str
    amount: int
    currency: str
    provider: str
    status: str
    provider_payment_id: str | None
    refunded_amount: int
    failure_code: str | None
    automatic: bool
    paid_at: datetime | None


class RefundPayload(EventPayload):
    id: str
    payment_id: str
    invoice_id: str
    amount: int
    currency: str
    provider: str
    status: str
    reason: str | None


PAYMENT_SUCCEEDED = define(
    "payment.succeeded", PaymentPayload, "A payment of an invoice succeeded."
)
PAYMENT_FAILED = define("payment.failed", PaymentPayload, "A payment of an invoice failed.")
PAYMENT_REFUNDED = define(
    "payment.refunded", RefundPayload, "(Part of) a payment was refunded to the payer."
)
PAYMENT_REFUND_FAILED = define(
    "payment.refund_failed", RefundPayload, "The provider refused to refund a payment."
)
PAYMENT_REFUND_REQUESTED = define(
    "payment.refund_requested",
    RefundPayload,
    "A refund was asked of the provider that took the payment (sent after commit).",
)
INVOICE_PAYMENT_FAILED = define(
    "invoice.payment_failed", InvoicePayload, "A payment of an open invoice failed."
)
INVOICE_PAYMENT_RETRY = define(
    "invoice.payment_retry_requested",
    InvoicePayload,
    "Dunning asked to charge an overdue invoice's saved payment method again.",
)


def payment_payload(payment: object) -> dict[str, object]:
    return PaymentPayload.model_validate(payment, from_attributes=True).model_dump(mode="json")


def refund_payload(refund: object) -> dict[str, object]:
    return RefundPayload.model_validate(refund, from_attributes=True).model_dump(mode="json")
