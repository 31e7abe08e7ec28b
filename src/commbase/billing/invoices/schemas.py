"""Invoice API shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, computed_field

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Currency

Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class DocumentLinks(ReadSchema):
    """Where the invoice's document is downloaded (``billing.documents``)."""

    html: str
    pdf: str


DOCUMENT = "The invoice as a document: HTML and PDF"


def document_links(invoice_id: str) -> DocumentLinks:
    return DocumentLinks(
        html=f"/v1/billing/invoices/{invoice_id}.html", pdf=f"/v1/billing/invoices/{invoice_id}.pdf"
    )


class OneOffLine(AppSchema):
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    unit_amount: Annotated[int, Field(ge=0, le=10**12)]
    # 100 lines of at most 10^12 x 10^4 stay within 64 bits, tax included.
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1


class InvoiceCreate(AppSchema):
    """A one-off invoice: a draft unless ``finalize`` (then numbered and open)."""

    customer_id: Id
    currency: Currency
    lines: Annotated[list[OneOffLine], Field(min_length=1, max_length=100)]
    memo: Annotated[str, StringConstraints(max_length=1000)] | None = None
    finalize: bool = False
    days_until_due: Annotated[int, Field(ge=0, le=365)] = 14


class InvoiceFinalize(AppSchema):
    days_until_due: Annotated[int, Field(ge=0, le=365)] = 14


class PaymentCreate(AppSchema):
    amount: Annotated[int, Field(ge=1, le=10**12)] | None = Field(
        default=None, description="Default: everything due"
    )
    reference: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="A cheque number, a bank transfer's reference..."
    )


class InvoiceLineRead(ReadSchema):
    id: str
    kind: str
    description: str
    quantity: int
    unit_amount: int
    amount: int
    plan_id: str | None
    addon_id: str | None
    period_start: datetime | None
    period_end: datetime | None


class InvoicePaymentRead(ReadSchema):
    id: str
    amount: int
    currency: str
    provider: str
    status: str
    reference: str | None
    ledger_entry_id: str | None
    paid_at: datetime | None


class InvoiceRead(ReadSchema):
    id: str
    number: str | None = Field(description="Sequential per organization, given when finalized")
    customer_id: str
    subscription_id: str | None
    status: str
    billing_reason: str
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    subtotal: int
    discount: int
    tax: int
    tax_percent: Decimal
    tax_inclusive: bool
    total: int
    credit_applied: int
    amount_paid: int
    amount_due: int
    coupon_id: str | None
    due_at: datetime | None
    finalized_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    memo: str | None
    created_at: datetime
    lines: list[InvoiceLineRead]
    payments: list[InvoicePaymentRead]

    @computed_field(description=DOCUMENT)  # type: ignore[prop-decorator]
    @property
    def document_url(self) -> DocumentLinks:
        return document_links(self.id)


class InvoiceSummary(ReadSchema):
    """An invoice in a list (lines and payments: read the invoice)."""

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
    due_at: datetime | None
    created_at: datetime

    @computed_field(description=DOCUMENT)  # type: ignore[prop-decorator]
    @property
    def document_url(self) -> DocumentLinks:
        return document_links(self.id)
