"""Invoice payments through providers: started (a checkout, or a saved card charged
by dunning), then settled or failed exactly once, whichever of the webhook, the
charge's own answer or a retried delivery gets there first.

The payment row is locked (and re-read) before it moves: a second delivery of the
same webhook, concurrent or late, finds it no longer ``pending`` and changes
nothing; its ledger credit is keyed by the payment's id as well. A payment that
arrives when the invoice can no longer take it (paid meanwhile, voided, or more
than is due) is marked ``failed`` with ``invoice_not_payable`` or
``exceeds_amount_due`` rather than posted: an invoice's payments never exceed its
total (the money must be refunded at the provider).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.customers import service as customers_service
from commbase.billing.invoices import events as invoice_events
from commbase.billing.invoices import payments as invoice_payments
from commbase.billing.invoices import service as invoices
from commbase.billing.invoices.enums import InvoicePaymentStatus, InvoiceStatus
from commbase.billing.invoices.models import Invoice, InvoicePayment
from commbase.billing.providers import events, registry
from commbase.billing.providers.base import (
    PaymentDeclined,
    PaymentRequest,
    ProviderEvent,
    ProviderPayment,
    ProviderUnavailable,
)
from commbase.billing.providers.enums import Outcome, ProviderName
from commbase.billing.providers.paypal import PayPalGateway
from commbase.billing.providers.schemas import CheckoutCreate
from commbase.core import outbox
from commbase.core.errors import (
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    ServiceUnavailable,
    invalid,
)
from commbase.core.pagination import PageParams, encode_cursor

log = structlog.get_logger("commbase.billing.payments")
PAYABLE = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)


async def lock_payment(session: AsyncSession, *, payment_id: str) -> InvoicePayment | None:
    return await session.scalar(
        select(InvoicePayment)
        .where(InvoicePayment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def get_payment(session: AsyncSession, *, org_id: str, payment_id: str) -> InvoicePayment:
    payment = await session.scalar(
        select(InvoicePayment).where(
            InvoicePayment.org_id == org_id, InvoicePayment.id == payment_id
        )
    )
    if payment is None:
        raise NotFound("Payment not found")
    return payment


async def list_payments(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    invoice_id: str | None,
    status: InvoicePaymentStatus | None,
) -> tuple[Sequence[InvoicePayment], str | None]:
    statement = select(InvoicePayment).where(InvoicePayment.org_id == org_id)
    if invoice_id is not None:
        statement = statement.where(InvoicePayment.invoice_id == invoice_id)
    if status is not None:
        statement = statement.where(InvoicePayment.status == status)
    if params.after_id is not None:
        statement = statement.where(InvoicePayment.id < params.after_id)
    rows = list(
        await session.scalars(statement.order_by(InvoicePayment.id.desc()).limit(params.limit + 1))
    )
    cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        cursor = encode_cursor(rows[-1].id)
    return rows, cursor


# ------------------------------------------------------------------ starting


async def start_checkout(
    session: AsyncSession,
    *,
    services: Mapping[str, Any],
    org_id: str,
    invoice_id: str,
    data: CheckoutCreate,
    idempotency_key: str | None,
) -> tuple[InvoicePayment, ProviderPayment | None]:
    """A pending payment of the invoice at a provider, for the customer to complete
    (Stripe: confirm the PaymentIntent; PayPal: approve the order; Cashfree: open the
    checkout). The simulator pays at once. A repeated Idempotency-Key gives the same
    payment (and the provider's same answer) back."""
    if idempotency_key is not None:
        earlier = await session.scalar(
            select(InvoicePayment).where(InvoicePayment.idempotency_key == idempotency_key)
        )
        if earlier is not None and earlier.org_id == org_id:
            if earlier.invoice_id != invoice_id or earlier.provider != data.provider:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was first used for another request; use a new key"
                )
            return earlier, None
    invoice = await invoices.get_invoice(session, org_id=org_id, invoice_id=invoice_id)
    if invoice.status not in PAYABLE:
        raise Conflict(
            f"A {invoice.status} invoice takes no payment", invoice_status=invoice.status
        )
    amount = invoice.amount_due if data.amount is None else data.amount
    if amount <= 0 or amount > invoice.amount_due:
        raise invalid(
            f"amount must be between 1 and the {invoice.amount_due} due",
            "amount",
            amount_due=invoice.amount_due,
        )
    gateway = registry.gateway(data.provider, services=services)
    customer = await customers_service.get_customer(
        session, org_id=org_id, customer_id=invoice.customer_id
    )
    payment = InvoicePayment(
        org_id=org_id,
        invoice_id=invoice.id,
        amount=amount,
        currency=invoice.currency,
        provider=data.provider,
        status=InvoicePaymentStatus.PENDING,
        idempotency_key=idempotency_key,
    )
    session.add(payment)
    await session.flush()
    request = _request(
        invoice,
        payment,
        payment_method=data.payment_method or customer.default_payment_method,
        customer_id=customer.id,
        phone=data.customer_phone,
        email=customer.email,
        return_url=data.return_url,
    )
    try:
        answer = await gateway.checkout(request)
    except PaymentDeclined as exc:
        await fail(session, payment=payment, code=exc.code, message=exc.message)
        return payment, None
    except ProviderUnavailable as exc:
        raise ServiceUnavailable(f"The payment provider is unavailable: {exc}") from exc
    payment.provider_payment_id = answer.provider_payment_id
    await session.flush()
    if answer.outcome == Outcome.SUCCEEDED:
        await settle(session, payment=payment, amount=None)
    return payment, answer


def _request(
    invoice: Invoice,
    payment: InvoicePayment,
    *,
    payment_method: str | None,
    customer_id: str,
    phone: str | None = None,
    email: str | None = None,
    return_url: str | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        reference=payment.id,
        amount=payment.amount,
        currency=payment.currency,
        description=f"Invoice {invoice.number or invoice.id}",
        metadata={
            "org_id": payment.org_id,
            "invoice_id": invoice.id,
            "invoice_payment_id": payment.id,
        },
        customer_id=customer_id,
        payment_method=payment_method,
        customer_phone=phone,
        customer_email=email,
        return_url=return_url,
    )


# ------------------------------------------------------------------ outcomes


async def settle(session: AsyncSession, *, payment: InvoicePayment, amount: int | None) -> bool:
    """Post a pending payment once; False if it had already moved (or cannot be taken)."""
    locked = await lock_payment(session, payment_id=payment.id)
    if locked is None or locked.status != InvoicePaymentStatus.PENDING:
        return False
    if amount is not None and amount != locked.amount:
        return not await fail(
            session,
            payment=locked,
            code="amount_mismatch",
            message=f"The provider took {amount}, not the {locked.amount} asked",
        )
    invoice = await invoices.get_invoice(
        session, org_id=locked.org_id, invoice_id=locked.invoice_id, for_update=True
    )
    if invoice.status not in PAYABLE:
        return not await fail(
            session,
            payment=locked,
            code="invoice_not_payable",
            message=f"The invoice is {invoice.status}; refund this payment at the provider",
        )
    if locked.amount > invoice.amount_due:
        return not await fail(
            session,
            payment=locked,
            code="exceeds_amount_due",
            message=f"Only {invoice.amount_due} is due; refund this payment at the provider",
        )
    await invoice_payments.post_payment(session, invoice=invoice, payment=locked)
    return True


async def fail(session: AsyncSession, *, payment: InvoicePayment, code: str, message: str) -> bool:
    """Mark a pending payment failed once: ``payment.failed``, ``invoice.payment_failed``,
    and for a dunning charge the subscription's next step."""
    from commbase.billing.providers import dunning

    locked = await lock_payment(session, payment_id=payment.id)
    if locked is None or locked.status != InvoicePaymentStatus.PENDING:
        return False
    locked.status = InvoicePaymentStatus.FAILED
    locked.failure_code = code[:100]
    locked.failure_message = message[:500]
    await session.flush()
    await outbox.record(
        session, events.PAYMENT_FAILED, events.payment_payload(locked), org_id=locked.org_id
    )
    invoice = await invoices.get_invoice(
        session, org_id=locked.org_id, invoice_id=locked.invoice_id
    )
    if invoice.status == InvoiceStatus.OPEN:
        await outbox.record(
            session,
            events.INVOICE_PAYMENT_FAILED,
            invoice_events.payload(invoice),
            org_id=invoice.org_id,
        )
        if locked.automatic:
            await dunning.after_failure(session, invoice=invoice)
    return True


# ------------------------------------------------------------------ webhooks


async def apply_event(
    session: AsyncSession, *, provider: ProviderName, event: ProviderEvent
) -> str:
    """What a verified provider event did: ``succeeded``, ``failed`` or ``ignored``.
    Invoice payments first; otherwise a pending wallet top-up of that provider."""
    if event.outcome is None or event.provider_payment_id is None:
        return "ignored"
    payment = await session.scalar(
        select(InvoicePayment).where(
            InvoicePayment.provider == provider,
            InvoicePayment.provider_payment_id == event.provider_payment_id,
        )
    )
    if payment is None:
        from commbase.billing.providers import topups

        return await topups.apply_provider_event(session, provider=provider, event=event)
    if event.currency is not None and event.currency != payment.currency:
        log.warning("payment event in another currency", payment_id=payment.id)
        return "ignored"
    if event.outcome == Outcome.SUCCEEDED:
        return (
            "succeeded"
            if await settle(session, payment=payment, amount=event.amount)
            else "ignored"
        )
    failed = await fail(
        session,
        payment=payment,
        code=event.failure_code or "payment_failed",
        message=event.failure_message or "The payment failed",
    )
    return "failed" if failed else "ignored"


async def capture_approved(
    session: AsyncSession, *, gateway: PayPalGateway, event: ProviderEvent
) -> str:
    """PayPal: capture an order the payer approved, then record what the capture says."""
    assert event.provider_payment_id is not None
    try:
        answer = await gateway.capture(event.provider_payment_id)
    except PaymentDeclined as exc:
        failed = replace(
            event, outcome=Outcome.FAILED, failure_code=exc.code, failure_message=exc.message
        )
        return await apply_event(session, provider=ProviderName.PAYPAL, event=failed)
    except ProviderUnavailable as exc:  # PayPal delivers the webhook again
        raise ServiceUnavailable(f"PayPal could not capture the order: {exc}") from exc
    if answer.outcome != Outcome.SUCCEEDED:
        return "ignored"
    return await apply_event(
        session, provider=ProviderName.PAYPAL, event=replace(event, outcome=Outcome.SUCCEEDED)
    )
