"""Invoice events."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class InvoicePayload(EventPayload):
    id: str
    number: str | None
    customer_id: str
    subscription_id: str | None
    status: str
    billing_reason: str
    currency: str
    total: int
    amount_paid: int
    amount_due: int


INVOICE_CREATED = define("invoice.created", InvoicePayload, "An invoice was created.")
INVOICE_FINALIZED = define(
    "invoice.finalized", InvoicePayload, "An invoice got its number and is open for payment."
)
INVOICE_PAID = define("invoice.paid", InvoicePayload, "An invoice was paid in full.")
INVOICE_VOIDED = define("invoice.voided", InvoicePayload, "An invoice was voided.")
INVOICE_UNCOLLECTIBLE = define(
    "invoice.marked_uncollectible", InvoicePayload, "An open invoice was written off."
)


def payload(invoice: object) -> dict[str, object]:
    return InvoicePayload.model_validate(invoice, from_attributes=True).model_dump()
