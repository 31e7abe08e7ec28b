"""Invoices: lines, totals with discounts and tax, gapless numbers, and their statuses.

Totals: ``subtotal`` is the sum of the lines; ``discount`` comes off it; tax is then
charged on what is left at the customer's rate (their tax country's, else the
organization's default, else none), on top of it (exclusive) or inside it
(inclusive: ``tax = taxable - taxable / (1 + rate)``), rounded half up.
``total = taxable + tax`` (exclusive) or ``taxable`` (inclusive);
``amount_due = total - credit_applied - amount_paid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.catalog import service as catalog_service
from commbase.billing.customers.models import Customer
from commbase.billing.invoices import events, numbering
from commbase.billing.invoices.enums import BillingReason, InvoiceStatus, LineKind
from commbase.billing.invoices.models import Invoice, InvoiceLine, InvoicePayment
from commbase.billing.invoices.schemas import InvoiceLineRead, InvoicePaymentRead, InvoiceRead
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow

DAYS_UNTIL_DUE = 14


@dataclass(frozen=True)
class LineSpec:
    kind: str
    description: str
    unit_amount: int
    quantity: int = 1
    plan_id: str | None = None
    addon_id: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def tax_on(taxable: int, percent: Decimal, *, inclusive: bool) -> int:
    """The tax in (inclusive) or on (exclusive) ``taxable`` minor units."""
    if taxable <= 0 or percent <= 0:
        return 0
    if inclusive:
        return taxable - _round(Decimal(taxable) * 100 / (100 + percent))
    return _round(Decimal(taxable) * percent / 100)


async def create_invoice(
    session: AsyncSession,
    *,
    customer: Customer,
    currency: str,
    lines: Sequence[LineSpec],
    reason: str = BillingReason.MANUAL,
    subscription_id: str | None = None,
    period: tuple[datetime | None, datetime | None] = (None, None),
    discount: int = 0,
    coupon_id: str | None = None,
    memo: str | None = None,
) -> Invoice:
    """A draft invoice with its lines and totals (``invoice.created``)."""
    subtotal = sum(line.amount for line in lines)
    taxable = max(0, subtotal - discount)
    rate = await catalog_service.tax_rate_for(
        session, org_id=customer.org_id, country=customer.tax_country
    )
    percent = rate.percent if rate is not None else Decimal(0)
    inclusive = rate.inclusive if rate is not None else False
    tax = tax_on(taxable, percent, inclusive=inclusive)
    total = taxable if inclusive else taxable + tax
    invoice = Invoice(
        org_id=customer.org_id,
        customer_id=customer.id,
        subscription_id=subscription_id,
        status=InvoiceStatus.DRAFT,
        billing_reason=reason,
        currency=currency,
        period_start=period[0],
        period_end=period[1],
        subtotal=subtotal,
        discount=min(discount, subtotal) if subtotal > 0 else 0,
        tax=tax,
        tax_percent=percent,
        tax_inclusive=inclusive,
        total=total,
        credit_applied=0,
        amount_paid=0,
        amount_due=total,
        coupon_id=coupon_id,
        memo=memo,
    )
    session.add(invoice)
    await session.flush()
    session.add_all(
        InvoiceLine(
            org_id=invoice.org_id,
            invoice_id=invoice.id,
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            amount=line.amount,
            plan_id=line.plan_id,
            addon_id=line.addon_id,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in lines
    )
    await session.flush()
    await outbox.record(
        session, events.INVOICE_CREATED, events.payload(invoice), org_id=invoice.org_id
    )
    return invoice


async def finalize(
    session: AsyncSession, *, invoice: Invoice, credit: int = 0, days_until_due: int | None = None
) -> Invoice:
    """Number a draft and open it; ``credit`` (what the customer is owed) is taken off
    the amount due. Nothing due: paid at once. Returns the invoice; the credit used
    is ``invoice.credit_applied``."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise Conflict(f"Only a draft can be finalized; this invoice is {invoice.status}")
    now = utcnow()
    invoice.sequence = await numbering.next_sequence(session, org_id=invoice.org_id)
    invoice.number = numbering.format_number(invoice.sequence)
    invoice.credit_applied = min(max(credit, 0), invoice.total)
    invoice.amount_due = invoice.total - invoice.credit_applied - invoice.amount_paid
    invoice.status = InvoiceStatus.OPEN
    invoice.finalized_at = now
    invoice.due_at = now + timedelta(
        days=DAYS_UNTIL_DUE if days_until_due is None else days_until_due
    )
    await session.flush()
    await outbox.record(
        session, events.INVOICE_FINALIZED, events.payload(invoice), org_id=invoice.org_id
    )
    if invoice.amount_due == 0:
        await mark_paid(session, invoice=invoice)
    return invoice


async def mark_paid(session: AsyncSession, *, invoice: Invoice) -> None:
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = utcnow()
    await session.flush()
    await outbox.record(
        session, events.INVOICE_PAID, events.payload(invoice), org_id=invoice.org_id
    )


async def void(session: AsyncSession, *, invoice: Invoice) -> Invoice:
    """Cancel a draft or an open invoice nothing was paid on; its number stays used."""
    if invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        raise Conflict(f"A {invoice.status} invoice cannot be voided")
    if invoice.amount_paid > 0:
        raise Conflict("Payments were made on this invoice: it cannot be voided")
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = utcnow()
    invoice.amount_due = 0
    await session.flush()
    await outbox.record(
        session, events.INVOICE_VOIDED, events.payload(invoice), org_id=invoice.org_id
    )
    return invoice


async def mark_uncollectible(session: AsyncSession, *, invoice: Invoice) -> Invoice:
    if invoice.status != InvoiceStatus.OPEN:
        raise Conflict(
            f"Only an open invoice can be marked uncollectible, not a {invoice.status} one"
        )
    invoice.status = InvoiceStatus.UNCOLLECTIBLE
    await session.flush()
    await outbox.record(
        session, events.INVOICE_UNCOLLECTIBLE, events.payload(invoice), org_id=invoice.org_id
    )
    return invoice


async def get_invoice(
    session: AsyncSession, *, org_id: str, invoice_id: str, for_update: bool = False
) -> Invoice:
    statement = select(Invoice).where(Invoice.org_id == org_id, Invoice.id == invoice_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    invoice = await session.scalar(statement)
    if invoice is None:
        raise NotFound("Invoice not found")
    return invoice


async def list_invoices(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    customer_id: str | None = None,
    subscription_id: str | None = None,
    status: str | None = None,
    overdue: bool | None = None,
) -> tuple[Sequence[Invoice], str | None]:
    """Newest first; ``overdue``: open invoices past (true) or within (false) their due date."""
    statement = select(Invoice).where(Invoice.org_id == org_id)
    if overdue is not None:
        past_due = Invoice.due_at <= utcnow()
        statement = statement.where(
            Invoice.status == InvoiceStatus.OPEN, past_due if overdue else ~past_due
        )
    if customer_id:
        statement = statement.where(Invoice.customer_id == customer_id)
    if subscription_id:
        statement = statement.where(Invoice.subscription_id == subscription_id)
    if status:
        statement = statement.where(Invoice.status == status)
    return await paginate(session, statement, id_column=Invoice.id, params=params)


async def lines_of(session: AsyncSession, *, invoice: Invoice) -> Sequence[InvoiceLine]:
    rows = await session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.id)
    )
    return rows.all()


async def payments_of(session: AsyncSession, *, invoice: Invoice) -> Sequence[InvoicePayment]:
    rows = await session.scalars(
        select(InvoicePayment)
        .where(InvoicePayment.invoice_id == invoice.id)
        .order_by(InvoicePayment.id)
        .limit(100)
    )
    return rows.all()


def one_off_lines(items: Sequence[tuple[str, int, int]]) -> list[LineSpec]:
    """Lines of a manual invoice: (description, unit amount, quantity)."""
    if not items:
        raise invalid("An invoice needs at least one line", "lines")
    return [
        LineSpec(LineKind.ONE_OFF, description, unit_amount, quantity)
        for description, unit_amount, quantity in items
    ]


async def create_one_off(
    session: AsyncSession,
    *,
    customer: Customer,
    currency: str,
    items: Sequence[tuple[str, int, int]],
    memo: str | None,
    finalize_now: bool,
    days_until_due: int,
) -> Invoice:
    """A manual invoice of one-off lines: a draft, or numbered and open at once."""
    invoice = await create_invoice(
        session, customer=customer, currency=currency, lines=one_off_lines(items), memo=memo
    )
    if finalize_now:
        await finalize(session, invoice=invoice, days_until_due=days_until_due)
    return invoice


async def read_invoice(session: AsyncSession, *, invoice: Invoice) -> InvoiceRead:
    """The invoice with its lines and payments, as the API shows it."""
    columns = {c.key: getattr(invoice, c.key) for c in Invoice.__table__.columns}
    return InvoiceRead.model_validate(
        {
            **columns,
            "lines": [
                InvoiceLineRead.model_validate(r) for r in await lines_of(session, invoice=invoice)
            ],
            "payments": [
                InvoicePaymentRead.model_validate(r)
                for r in await payments_of(session, invoice=invoice)
            ],
        }
    )
