"""Invoices through the analytics registry: issued, paid, billed, collected, still due.

An invoice counts at ``created_at`` in its current status (``updated_at`` is its change
time, so a payment refolds the hour it was issued in). Drafts and void invoices bill
nothing. Whether an open invoice is overdue depends on the clock, not on the row:
list those with ``GET /v1/billing/invoices?status=open&overdue=true``.
"""

from __future__ import annotations

from commbase.analytics.registry import Source, count, register, total
from commbase.billing.invoices.enums import InvoiceStatus
from commbase.billing.invoices.models import Invoice

INVOICES = Source(
    "billing_invoices",
    Invoice.__table__,
    org=Invoice.org_id,
    time=Invoice.created_at,
    changed=Invoice.updated_at,
    dimensions={
        "status": Invoice.status,
        "currency": Invoice.currency,
        "billing_reason": Invoice.billing_reason,
        "customer": Invoice.customer_id,
    },
)
BILLED = Invoice.status.in_([InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE])

register(
    count(
        "invoices.issued",
        INVOICES,
        "Invoices finalized (open, paid or uncollectible)",
        where=BILLED,
    ),
    count("invoices.paid", INVOICES, "Invoices paid", where=Invoice.status == InvoiceStatus.PAID),
    count(
        "invoices.open",
        INVOICES,
        "Invoices awaiting payment",
        where=Invoice.status == InvoiceStatus.OPEN,
    ),
    total(
        "invoices.billed",
        INVOICES,
        Invoice.total,
        "Invoiced (totals, tax included)",
        where=BILLED,
        unit="minor",
    ),
    total("invoices.collected", INVOICES, Invoice.amount_paid, "Paid on invoices", unit="minor"),
    total(
        "invoices.outstanding",
        INVOICES,
        Invoice.amount_due,
        "Still due on open invoices",
        where=Invoice.status == InvoiceStatus.OPEN,
        unit="minor",
    ),
)
