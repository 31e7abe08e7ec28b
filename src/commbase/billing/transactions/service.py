"""Seed 002's transactions of a user, read from the one source of truth for money.

A user's transactions are ledger entries; nothing is stored twice:

- ``purchase``: a completed, pending or failed top-up of a wallet the user owns
  (``wallet_topup``), or a payment of a one-off invoice billed to the user as a
  customer (``invoice_payment``, posted to the seller's revenue wallet);
- ``subscription``: a payment of an invoice of one of the user's subscriptions;
- ``refund``: a top-up of the user's wallet given back (``topup_refund``), or a
  payment of one of the user's invoices given back (``invoice_refund``, found
  through the payment it refunds).

Statuses change only where the providers' verified webhooks settle the entries.

Call charges and call refunds move money inside the wallet; they are the wallet's
ledger (``/v1/wallets/{id}/transactions``), not payments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.billing.enums import LedgerCategory, LedgerStatus, OwnerType
from commbase.billing.invoices.enums import InvoiceStatus
from commbase.billing.invoices.models import Invoice, InvoicePayment
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.transactions.enums import TransactionType
from commbase.billing.transactions.schemas import BillingSummary, CurrencySummary, TransactionRead
from commbase.core.errors import NotFound
from commbase.core.pagination import PageParams, encode_cursor
from commbase.identity import service as identity_service

WALLET_CATEGORIES = (LedgerCategory.WALLET_TOPUP, LedgerCategory.TOPUP_REFUND)
INVOICE_CATEGORIES = (LedgerCategory.INVOICE_PAYMENT, LedgerCategory.INVOICE_REFUND)

# The transaction's type, from its ledger category and its invoice.
TYPE = case(
    (
        LedgerEntry.category.in_([LedgerCategory.TOPUP_REFUND, LedgerCategory.INVOICE_REFUND]),
        TransactionType.REFUND.value,
    ),
    (Invoice.subscription_id.is_not(None), TransactionType.SUBSCRIPTION.value),
    else_=TransactionType.PURCHASE.value,
)
# Whose transaction it is: the wallet's owner, or the invoice's customer.
USER = case(
    (LedgerEntry.category.in_(INVOICE_CATEGORIES), Customer.reference_id),
    else_=Wallet.owner_id,
)


def _joined(statement: Select[Any]) -> Select[Any]:
    return (
        statement.select_from(LedgerEntry)
        .join(Wallet, Wallet.id == LedgerEntry.wallet_id)
        .outerjoin(
            InvoicePayment,
            and_(
                InvoicePayment.org_id == LedgerEntry.org_id,
                # An invoice refund is found through the payment it refunds.
                InvoicePayment.ledger_entry_id
                == case(
                    (
                        LedgerEntry.category == LedgerCategory.INVOICE_REFUND,
                        LedgerEntry.refund_of,
                    ),
                    else_=LedgerEntry.id,
                ),
            ),
        )
        .outerjoin(Invoice, Invoice.id == InvoicePayment.invoice_id)
        .outerjoin(Customer, Customer.id == Invoice.customer_id)
    )


def _of_users(org_id: str, user_id: str | None) -> ColumnElement[bool]:
    """Entries that are transactions of ``user_id`` (any user's when None)."""
    wallet = and_(Wallet.owner_type == OwnerType.USER, LedgerEntry.category.in_(WALLET_CATEGORIES))
    invoice = and_(LedgerEntry.category.in_(INVOICE_CATEGORIES), Customer.kind == CustomerKind.USER)
    if user_id is None:
        return and_(LedgerEntry.org_id == org_id, or_(wallet, invoice))
    wallet = and_(wallet, Wallet.owner_id == user_id)
    invoice = and_(invoice, Customer.reference_id == user_id)
    # The same rows, said so that an index finds them (the user's wallets' entries,
    # the ledger entries of the user's invoice payments) rather than the
    # organization's whole ledger, call charges included.
    wallets = select(Wallet.id).where(
        Wallet.org_id == org_id, Wallet.owner_type == OwnerType.USER, Wallet.owner_id == user_id
    )
    payments = (
        select(InvoicePayment.ledger_entry_id)
        .join(Invoice, Invoice.id == InvoicePayment.invoice_id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Customer.org_id == org_id,
            Customer.kind == CustomerKind.USER,
            Customer.reference_id == user_id,
        )
    )
    indexed = or_(
        LedgerEntry.wallet_id.in_(wallets),
        LedgerEntry.id.in_(payments),
        LedgerEntry.refund_of.in_(payments),
    )
    return and_(LedgerEntry.org_id == org_id, indexed, or_(wallet, invoice))


def _select() -> Select[Any]:
    return _joined(
        select(
            LedgerEntry,
            USER.label("user_id"),
            TYPE.label("type"),
            Invoice.id.label("invoice_id"),
            Invoice.number.label("invoice_number"),
            Invoice.subscription_id.label("subscription_id"),
        )
    )


def _receipt_url(entry: LedgerEntry, invoice_id: str | None) -> str | None:
    """Where the customer downloads the document (``billing.documents``)."""
    if invoice_id is not None:
        return f"/v1/billing/invoices/{invoice_id}.pdf"
    if entry.category == LedgerCategory.WALLET_TOPUP and entry.status == LedgerStatus.COMPLETED:
        return f"/v1/billing/receipts/{entry.id}.pdf"
    return None


def _read(row: Any) -> TransactionRead:
    entry: LedgerEntry = row[0]
    in_wallet = entry.category not in INVOICE_CATEGORIES
    return TransactionRead(
        id=entry.id,
        user_id=row.user_id,
        type=TransactionType(row.type),
        amount=entry.amount,
        currency=entry.currency,
        status=LedgerStatus(entry.status),
        category=entry.category,
        payment_method=entry.payment_method,
        provider_transaction_id=entry.provider_transaction_id,
        wallet_id=entry.wallet_id if in_wallet else None,
        invoice_id=row.invoice_id,
        invoice_number=row.invoice_number,
        subscription_id=row.subscription_id,
        refund_of=entry.refund_of,
        refunded_amount=entry.refunded_amount,
        description=entry.description,
        receipt_number=entry.receipt_number,
        receipt_url=_receipt_url(entry, row.invoice_id),
        created_at=entry.created_at,
        completed_at=entry.completed_at,
    )


async def require_member(session: AsyncSession, *, org_id: str, user_id: str) -> None:
    """NotFound unless ``user_id`` is (or was) a member of the organization."""
    if await identity_service.get_membership(session, org_id=org_id, user_id=user_id) is None:
        raise NotFound("User not found")


async def list_transactions(
    session: AsyncSession,
    *,
    org_id: str,
    user_id: str,
    params: PageParams,
    type_: TransactionType | None = None,
    status: LedgerStatus | None = None,
    currency: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> tuple[Sequence[TransactionRead], str | None]:
    """The user's transactions, newest first (cursor-paginated by entry id)."""
    await require_member(session, org_id=org_id, user_id=user_id)
    statement = _select().where(_of_users(org_id, user_id))
    if type_ is not None:
        statement = statement.where(literal(type_.value) == TYPE)
    if status is not None:
        statement = statement.where(LedgerEntry.status == status)
    if currency is not None:
        statement = statement.where(LedgerEntry.currency == currency)
    if created_from is not None:
        statement = statement.where(LedgerEntry.created_at >= created_from)
    if created_to is not None:
        statement = statement.where(LedgerEntry.created_at < created_to)
    if params.after_id is not None:
        statement = statement.where(LedgerEntry.id < params.after_id)
    statement = statement.order_by(LedgerEntry.id.desc()).limit(params.limit + 1)
    rows = (await session.execute(statement)).all()
    cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        cursor = encode_cursor(rows[-1][0].id)
    return [_read(row) for row in rows], cursor


async def get_transaction(
    session: AsyncSession, *, org_id: str, transaction_id: str
) -> TransactionRead:
    row = (
        await session.execute(
            _select().where(_of_users(org_id, None), LedgerEntry.id == transaction_id)
        )
    ).first()
    if row is None:
        raise NotFound("Transaction not found")
    return _read(row)


async def summarize(session: AsyncSession, *, org_id: str, user_id: str) -> BillingSummary:
    """Per currency: completed purchases, subscription payments and refunds, what is
    pending at a provider, and what is still due on the user's open invoices."""
    await require_member(session, org_id=org_id, user_id=user_id)
    grouped = _joined(
        select(
            LedgerEntry.currency,
            TYPE.label("type"),
            LedgerEntry.status,
            func.coalesce(func.sum(LedgerEntry.amount), 0),
            func.count(),
            func.max(LedgerEntry.created_at),
        )
    ).where(_of_users(org_id, user_id))
    grouped = grouped.group_by(LedgerEntry.currency, TYPE, LedgerEntry.status)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    count, last = 0, None
    for currency, type_, status, amount, n, latest in (await session.execute(grouped)).all():
        figures = totals[currency]
        figures["transactions"] += n
        count += n
        last = latest if last is None or (latest is not None and latest > last) else last
        if status == LedgerStatus.COMPLETED:
            figures[type_] += int(amount)
        elif status == LedgerStatus.PENDING:
            figures["pending"] += int(amount)
    due = (
        select(Invoice.currency, func.coalesce(func.sum(Invoice.amount_due), 0))
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.org_id == org_id,
            Invoice.status == InvoiceStatus.OPEN,
            Customer.kind == CustomerKind.USER,
            Customer.reference_id == user_id,
        )
        .group_by(Invoice.currency)
    )
    for currency, amount in (await session.execute(due)).all():
        totals[currency]["outstanding"] += int(amount)
    currencies = []
    for currency in sorted(totals):
        f = totals[currency]
        purchases, subscriptions = f[TransactionType.PURCHASE], f[TransactionType.SUBSCRIPTION]
        refunds = f[TransactionType.REFUND]
        currencies.append(
            CurrencySummary(
                currency=currency,
                purchases=purchases,
                subscriptions=subscriptions,
                refunds=refunds,
                net=purchases + subscriptions - refunds,
                pending=f["pending"],
                outstanding=f["outstanding"],
                transactions=f["transactions"],
            )
        )
    return BillingSummary(
        user_id=user_id, transactions=count, last_transaction_at=last, currencies=currencies
    )
