"""Invoices and wallet top-up receipts gathered into documents.

An invoice shows the seller (the organization: name, address, email), the
customer (name, email, billing address, tax id), its number (a draft has none
yet: ``DRAFT``), issue and due dates, period, lines, then subtotal, discount,
tax, total, credit applied, paid and due. A receipt shows one completed top-up
(money and package minutes) of a wallet.
"""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service as billing_service
from commbase.billing.customers import service as customers_service
from commbase.billing.documents.model import Document, Line, Party, address_lines, day, money
from commbase.billing.enums import LedgerCategory, LedgerStatus, OwnerType
from commbase.billing.invoices import service as invoices_service
from commbase.billing.models import Wallet
from commbase.core.auth import Principal
from commbase.core.errors import NotFound
from commbase.identity import service as identity_service


async def _seller(session: AsyncSession, org_id: str) -> tuple[Party, str]:
    """The organization as a party, and the time zone its dates are shown in."""
    org = await identity_service.get_organization(session, org_id=org_id)
    lines = address_lines(org.address) + [v for v in (org.email, org.website) if v]
    return Party(name=org.name, lines=lines), org.timezone


async def invoice_document(session: AsyncSession, *, org_id: str, invoice_id: str) -> Document:
    invoice = await invoices_service.get_invoice(session, org_id=org_id, invoice_id=invoice_id)
    shown = await invoices_service.read_invoice(session, invoice=invoice)
    customer = await customers_service.get_customer(
        session, org_id=org_id, customer_id=invoice.customer_id
    )
    seller, zone = await _seller(session, org_id)
    buyer_lines = address_lines(customer.address)
    buyer_lines += [v for v in (customer.email,) if v]
    if customer.tax_id:
        buyer_lines.append(f"Tax ID: {customer.tax_id}")
    facts = [
        ("Issued", day(invoice.finalized_at or invoice.created_at, zone)),
        ("Due", day(invoice.due_at, zone)),
    ]
    if invoice.period_start is not None:
        facts.append(
            ("Period", f"{day(invoice.period_start, zone)} to {day(invoice.period_end, zone)}")
        )
    if invoice.paid_at is not None:
        facts.append(("Paid", day(invoice.paid_at, zone)))
    tax_label = f"Tax {invoice.tax_percent.normalize():f}%"
    totals = [("Subtotal", invoice.subtotal)]
    if invoice.discount:
        totals.append(("Discount", -invoice.discount))
    totals += [
        (f"{tax_label} (included)" if invoice.tax_inclusive else tax_label, invoice.tax),
        ("Total", invoice.total),
    ]
    if invoice.credit_applied:
        totals.append(("Credit applied", -invoice.credit_applied))
    totals += [("Paid", -invoice.amount_paid), ("Amount due", invoice.amount_due)]
    return Document(
        title="Invoice",
        number=invoice.number or "DRAFT",
        status=invoice.status,
        seller=seller,
        buyer=Party(name=customer.name or customer.reference_id, lines=buyer_lines),
        currency=invoice.currency,
        facts=facts,
        lines=[Line(x.description, x.quantity, x.unit_amount, x.amount) for x in shown.lines],
        totals=totals,
        memo=invoice.memo,
    )


async def _wallet_owner(session: AsyncSession, wallet: Wallet) -> Party:
    if wallet.owner_type == OwnerType.USER:
        user = await identity_service.find_user(session, user_id=wallet.owner_id)
        if user is not None:
            return Party(name=user.name or user.email, lines=[user.email])
    if wallet.owner_type == OwnerType.ORGANIZATION:
        with contextlib.suppress(NotFound):
            org = await identity_service.get_organization(session, org_id=wallet.owner_id)
            return Party(name=org.name, lines=address_lines(org.address))
    return Party(name=f"Wallet {wallet.id}")


async def receipt_document(
    session: AsyncSession, *, principal: Principal, transaction_id: str
) -> Document:
    """A completed top-up's receipt; anything else (a call charge, a pending payment) is 404."""
    entry = await billing_service.get_entry(
        session, org_id=principal.org_id, entry_id=transaction_id
    )
    if entry.category != LedgerCategory.WALLET_TOPUP or entry.status != LedgerStatus.COMPLETED:
        raise NotFound("Receipt not found")
    wallet = await billing_service.visible_wallet(
        session, principal=principal, wallet_id=entry.wallet_id
    )
    seller, zone = await _seller(session, principal.org_id)
    lines = [Line("Wallet top-up", 1, entry.amount, entry.amount)] if entry.amount else []
    if entry.minutes:
        lines.append(Line(f"Package minutes: {entry.minutes}", 1, 0, 0))
    facts = [("Paid", day(entry.completed_at or entry.created_at, zone))]
    facts += [("Payment", entry.payment_method or "manual"), ("Wallet", wallet.id)]
    if entry.provider_transaction_id:
        facts.append(("Provider reference", entry.provider_transaction_id))
    if entry.refunded_amount:
        facts.append(("Refunded", money(entry.refunded_amount, entry.currency)))
    return Document(
        title="Receipt",
        number=entry.receipt_number or entry.id,
        status="paid",
        seller=seller,
        buyer=await _wallet_owner(session, wallet),
        currency=entry.currency,
        facts=facts,
        lines=lines,
        totals=[("Total paid", entry.amount)],
        memo=entry.description,
    )
