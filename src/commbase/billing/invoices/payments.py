"""Payments against invoices: never more than what is due, posted to the ledger once.

A payment is a row of ``billing_invoice_payments`` and one credit in the selling
organization's *revenue wallet* for the currency (a wallet owned by no one who can
spend it: ``owner_type="revenue"``), keyed ``invoice-payment:<payment id>``. The
invoice row is locked while the payment is recorded, so two payments at once can
never exceed its total (and a CHECK constraint says the same). Providers other
than ``manual`` (``billing.providers``) post their payments through
``post_payment`` the same way, once their webhook or charge says they succeeded.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service as billing_service
from commbase.billing.enums import LedgerCategory, LedgerType, PaymentMethod
from commbase.billing.invoices import service
from commbase.billing.invoices.enums import InvoicePaymentStatus, InvoiceStatus
from commbase.billing.invoices.models import Invoice, InvoicePayment
from commbase.billing.models import Wallet
from commbase.billing.subscriptions import events as subscription_events
from commbase.billing.subscriptions.enums import SubscriptionStatus
from commbase.billing.subscriptions.models import Subscription
from commbase.core import outbox
from commbase.core.errors import Conflict, invalid
from commbase.core.time import utcnow

REVENUE_OWNER = "revenue"
_METHODS = {
    "stripe": PaymentMethod.STRIPE,
    "paypal": PaymentMethod.PAYPAL,
    "cashfree": PaymentMethod.CASHFREE,
    "simulator": PaymentMethod.SIMULATOR,
}


async def revenue_wallet(session: AsyncSession, *, org_id: str, currency: str) -> Wallet:
    """The organization's revenue wallet for ``currency``, opened on first use."""
    owner_id = f"revenue:{currency}"
    wallet = await billing_service.find_wallet(
        session, org_id=org_id, owner_type=REVENUE_OWNER, owner_id=owner_id
    )
    if wallet is not None:
        return wallet
    try:
        async with session.begin_nested():
            return await billing_service.create_wallet(
                session,
                org_id=org_id,
                owner_type=REVENUE_OWNER,
                owner_id=owner_id,
                currency=currency,
            )
    except IntegrityError:  # opened by a concurrent payment
        wallet = await billing_service.find_wallet(
            session, org_id=org_id, owner_type=REVENUE_OWNER, owner_id=owner_id
        )
        assert wallet is not None
        return wallet


async def pay(
    session: AsyncSession,
    *,
    org_id: str,
    invoice_id: str,
    amount: int | None,
    reference: str | None,
    idempotency_key: str | None,
    provider: str = "manual",
) -> Invoice:
    """Record a payment (default: everything due); ``invoice.paid`` when nothing is left.

    A retry with the same ``Idempotency-Key`` returns the invoice without paying again.
    """
    if idempotency_key is not None:
        earlier = await session.scalar(
            select(InvoicePayment).where(InvoicePayment.idempotency_key == idempotency_key)
        )
        if earlier is not None and earlier.org_id == org_id:
            return await service.get_invoice(session, org_id=org_id, invoice_id=earlier.invoice_id)
    invoice = await service.get_invoice(
        session, org_id=org_id, invoice_id=invoice_id, for_update=True
    )
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        raise Conflict(
            f"A {invoice.status} invoice takes no payment", invoice_status=invoice.status
        )
    amount = invoice.amount_due if amount is None else amount
    if amount <= 0 or amount > invoice.amount_due:
        raise invalid(
            f"amount must be between 1 and the {invoice.amount_due} due",
            "amount",
            amount_due=invoice.amount_due,
        )
    payment = InvoicePayment(
        org_id=org_id,
        invoice_id=invoice.id,
        amount=amount,
        currency=invoice.currency,
        provider=provider,
        status=InvoicePaymentStatus.PENDING,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    session.add(payment)
    await session.flush()
    await post_payment(session, invoice=invoice, payment=payment)
    return invoice


async def post_payment(session: AsyncSession, *, invoice: Invoice, payment: InvoicePayment) -> None:
    """Turn a pending payment of a locked, payable ``invoice`` into a succeeded one: one
    credit in the revenue wallet (keyed by the payment), the invoice's paid and due
    amounts, ``payment.succeeded``, and ``invoice.paid`` when nothing is left due."""
    from commbase.billing.providers import events as payment_events

    wallet = await revenue_wallet(session, org_id=invoice.org_id, currency=invoice.currency)
    entry = await billing_service.credit(
        session,
        wallet=wallet,
        amount=payment.amount,
        posting=billing_service.Posting(
            type=LedgerType.CREDIT,
            category=LedgerCategory.INVOICE_PAYMENT,
            idempotency_key=f"invoice-payment:{payment.id}",
            payment_method=_METHODS.get(payment.provider, PaymentMethod.ADMIN),
            provider_transaction_id=payment.provider_payment_id or payment.reference,
            description=f"Invoice {invoice.number}",
            details={"invoice_id": invoice.id, "payment_id": payment.id},
        ),
    )
    payment.ledger_entry_id = entry.id
    payment.status = InvoicePaymentStatus.SUCCEEDED
    payment.paid_at = utcnow()
    invoice.amount_paid += payment.amount
    invoice.amount_due -= payment.amount
    await session.flush()
    await outbox.record(
        session,
        payment_events.PAYMENT_SUCCEEDED,
        payment_events.payment_payload(payment),
        org_id=invoice.org_id,
    )
    if invoice.amount_due == 0:
        await service.mark_paid(session, invoice=invoice)
        await _back_in_good_standing(session, invoice=invoice)


async def _back_in_good_standing(session: AsyncSession, *, invoice: Invoice) -> None:
    """A past_due subscription whose overdue invoices are all paid is active again."""
    if invoice.subscription_id is None:
        return
    subscription = await session.scalar(
        select(Subscription)
        .where(Subscription.id == invoice.subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if subscription is None or subscription.status != SubscriptionStatus.PAST_DUE:
        if subscription is not None and subscription.payment_attempts:
            subscription.payment_attempts = 0  # paid before dunning made it past_due
            subscription.next_payment_retry_at = None
        return
    overdue = await session.scalar(
        select(
            exists().where(
                Invoice.subscription_id == subscription.id,
                Invoice.status == InvoiceStatus.OPEN,
                Invoice.due_at <= utcnow(),
            )
        )
    )
    if overdue:
        return
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.payment_attempts = 0
    subscription.next_payment_retry_at = None
    await session.flush()
    await outbox.record(
        session,
        subscription_events.SUBSCRIPTION_UPDATED,
        subscription_events.payload(subscription),
        org_id=subscription.org_id,
    )
