"""Refunds of invoice payments: each points at its payment, a payment's refunds never
exceed it, and one Idempotency-Key gives one refund.

The payment row is locked while its ``refunded_amount`` grows (under a CHECK
constraint), so concurrent refunds cannot overshoot. The money leaves the
organization's revenue wallet as a ``refund`` ledger entry (``invoice_refund``,
``refund_of`` the payment's entry). Manual and simulator refunds complete at
once; Stripe, PayPal and Cashfree refunds are ``pending`` (the money held) until
the ``billing.payment_refund`` effect has asked the provider after commit (keyed
by the refund's id), then completed, or failed with the hold and the payment's
refundable amount given back. The invoice stays paid: a refund is money returned,
not an unpaid invoice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import ledger, pending
from commbase.billing.enums import LedgerCategory, LedgerType, PaymentMethod
from commbase.billing.invoices import payments as invoice_payments
from commbase.billing.invoices.enums import InvoicePaymentStatus
from commbase.billing.models import LedgerEntry
from commbase.billing.providers import events, registry
from commbase.billing.providers.base import PaymentDeclined
from commbase.billing.providers.enums import Outcome, ProviderName, RefundStatus
from commbase.billing.providers.models import PaymentRefund
from commbase.billing.providers.schemas import RefundCreate
from commbase.billing.providers.service import get_payment, lock_payment
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.errors import Conflict, IdempotencyKeyReused, NotFound, PaymentRequired, invalid
from commbase.core.time import utcnow

AT_ONCE = (ProviderName.MANUAL, ProviderName.SIMULATOR)


async def list_refunds(
    session: AsyncSession, *, org_id: str, payment_id: str
) -> Sequence[PaymentRefund]:
    return list(
        await session.scalars(
            select(PaymentRefund)
            .where(PaymentRefund.org_id == org_id, PaymentRefund.payment_id == payment_id)
            .order_by(PaymentRefund.id)
        )
    )


async def refund_payment(
    session: AsyncSession,
    *,
    org_id: str,
    payment_id: str,
    data: RefundCreate,
    idempotency_key: str | None,
) -> PaymentRefund:
    """Refund (part of) a succeeded payment; returns the refund."""
    await get_payment(session, org_id=org_id, payment_id=payment_id)  # 404 across tenants
    if idempotency_key is not None:
        earlier = await session.scalar(
            select(PaymentRefund).where(PaymentRefund.idempotency_key == idempotency_key)
        )
        if earlier is not None and earlier.org_id == org_id:
            if earlier.payment_id != payment_id or (
                data.amount is not None and data.amount != earlier.amount
            ):
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was first used for another request; use a new key",
                    refund_id=earlier.id,
                )
            return earlier
    payment = await lock_payment(session, payment_id=payment_id)
    assert payment is not None
    if payment.status != InvoicePaymentStatus.SUCCEEDED or payment.ledger_entry_id is None:
        raise Conflict(f"A {payment.status} payment cannot be refunded", payment_id=payment.id)
    left = payment.amount - payment.refunded_amount
    if left == 0:
        raise Conflict("This payment is refunded in full already", payment_id=payment.id)
    amount = left if data.amount is None else data.amount
    if amount > left:
        raise invalid(
            f"At most {left} of {payment.amount} is left to refund", "amount", refundable=left
        )
    payment.refunded_amount += amount
    await session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.id == payment.ledger_entry_id)
        .values(refunded_amount=LedgerEntry.refunded_amount + amount)
        .execution_options(synchronize_session=False)
    )
    at_once = payment.provider in AT_ONCE
    refund = PaymentRefund(
        org_id=org_id,
        payment_id=payment.id,
        invoice_id=payment.invoice_id,
        amount=amount,
        currency=payment.currency,
        provider=payment.provider,
        status=RefundStatus.PENDING,
        reason=data.reason,
        idempotency_key=idempotency_key,
    )
    session.add(refund)
    await session.flush()
    wallet = await invoice_payments.revenue_wallet(
        session, org_id=org_id, currency=payment.currency
    )
    posting = ledger.Posting(
        type=LedgerType.REFUND,
        category=LedgerCategory.INVOICE_REFUND,
        idempotency_key=f"payment-refund:{refund.id}",
        payment_method=PaymentMethod.ADMIN if at_once else payment.provider,
        description=data.reason or f"Refund of payment {payment.id}",
        details={
            "payment_id": payment.id,
            "invoice_id": payment.invoice_id,
            "refund_id": refund.id,
        },
        refund_of=payment.ledger_entry_id,
    )
    if at_once:
        entry = await ledger.post(
            session,
            wallet=wallet,
            amount_delta=-amount,
            minutes_delta=0,
            require_available=amount,
            posting=posting,
        )
        if entry is None:
            raise PaymentRequired("The revenue wallet no longer holds this amount")
        refund.ledger_entry_id = entry.id
        refund.status = RefundStatus.SUCCEEDED
        refund.completed_at = utcnow()
        await session.flush()
        await outbox.record(
            session, events.PAYMENT_REFUNDED, events.refund_payload(refund), org_id=org_id
        )
        return refund
    held = await pending.record_pending(
        session, wallet=wallet, amount=amount, hold=True, posting=posting
    )
    refund.ledger_entry_id = held.id
    await session.flush()
    await outbox.record(
        session, events.PAYMENT_REFUND_REQUESTED, events.refund_payload(refund), org_id=org_id
    )
    return refund


async def _finish(
    session: AsyncSession,
    *,
    refund: PaymentRefund,
    outcome: Outcome,
    code: str | None,
    message: str | None,
    provider_refund_id: str | None,
) -> None:
    locked = await session.scalar(
        select(PaymentRefund)
        .where(PaymentRefund.id == refund.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None or locked.status != RefundStatus.PENDING:
        return
    entry = await ledger.find_entry(
        session, org_id=locked.org_id, entry_id=locked.ledger_entry_id or ""
    )
    locked.provider_refund_id = provider_refund_id
    locked.completed_at = utcnow()
    if outcome == Outcome.SUCCEEDED:
        if entry is not None:
            await pending.settle_pending(
                session, entry=entry, provider_transaction_id=provider_refund_id
            )
        locked.status = RefundStatus.SUCCEEDED
        await session.flush()
        await outbox.record(
            session, events.PAYMENT_REFUNDED, events.refund_payload(locked), org_id=locked.org_id
        )
        return
    if entry is not None:  # gives the hold and the entry's refunded amount back
        await pending.fail_pending(
            session, entry=entry, code=code or "refund_failed", message=message or "refused"
        )
    payment = await lock_payment(session, payment_id=locked.payment_id)
    if payment is not None:
        payment.refunded_amount -= locked.amount
    locked.status = RefundStatus.FAILED
    locked.failure_code = (code or "refund_failed")[:100]
    locked.failure_message = (message or "The provider refused the refund")[:500]
    await session.flush()
    await outbox.record(
        session, events.PAYMENT_REFUND_FAILED, events.refund_payload(locked), org_id=locked.org_id
    )


async def send(
    database: Database, *, services: Mapping[str, Any], org_id: str, refund_id: str
) -> None:
    """Ask the provider for a pending refund (the refund's id is the idempotency key)."""
    async with database.sessionmaker() as session:
        refund = await session.scalar(
            select(PaymentRefund).where(
                PaymentRefund.org_id == org_id, PaymentRefund.id == refund_id
            )
        )
        if refund is None or refund.status != RefundStatus.PENDING:
            return
        payment = await get_payment(session, org_id=org_id, payment_id=refund.payment_id)
    code: str | None
    message: str | None
    provider_id: str | None
    if payment.provider_payment_id is None:
        outcome, code, message, provider_id = (
            Outcome.FAILED,
            "no_payment",
            "No provider payment",
            None,
        )
    else:
        try:
            answer = await registry.gateway(refund.provider, services=services).refund(
                provider_payment_id=payment.provider_payment_id,
                amount=refund.amount,
                currency=refund.currency,
                reference=refund.id,
            )
            outcome, code, message = answer.outcome, answer.failure_code, answer.failure_message
            provider_id = answer.provider_refund_id
        except PaymentDeclined as exc:
            outcome, code, message, provider_id = Outcome.FAILED, exc.code, exc.message, None
    async with database.sessionmaker() as session:
        await _finish(
            session,
            refund=refund,
            outcome=outcome,
            code=code,
            message=message,
            provider_refund_id=provider_id,
        )
        await session.commit()


async def give_up(database: Database, *, org_id: str, refund_id: str, error: str) -> None:
    async with database.sessionmaker() as session:
        refund = await session.scalar(
            select(PaymentRefund).where(
                PaymentRefund.org_id == org_id, PaymentRefund.id == refund_id
            )
        )
        if refund is None:
            raise NotFound("Refund not found")
        await _finish(
            session,
            refund=refund,
            outcome=Outcome.FAILED,
            code="provider_unavailable",
            message=error,
            provider_refund_id=None,
        )
        await session.commit()
