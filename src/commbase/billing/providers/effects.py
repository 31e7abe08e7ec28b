"""Provider calls made after commit (``core.effects``).

* ``billing.charge_invoice`` (``invoice.finalized`` of a subscription's period,
  ``invoice.payment_retry_requested`` from dunning): charges the customer's saved
  payment method (``default_payment_method``: Stripe ``pm_``, simulator ``sim_``)
  for what is due. The payment row is made first, keyed by the outbox event
  (``charge:<event id>``), and the provider is asked with that row's id as its
  idempotency key, so a re-run effect never charges twice. Success posts the
  payment; a refusal fails it and dunning takes over; an outage is retried.
* ``billing.payment_refund`` (``payment.refund_requested``): refunds at the
  provider, keyed by the refund's id; completes it, or fails it and gives the
  held money back.
"""

from __future__ import annotations

from sqlalchemy import select

from commbase.billing.customers import service as customers_service
from commbase.billing.invoices import events as invoice_events
from commbase.billing.invoices import service as invoices
from commbase.billing.invoices.enums import PERIOD_REASONS, InvoicePaymentStatus, InvoiceStatus
from commbase.billing.invoices.models import InvoicePayment
from commbase.billing.providers import events, refunds, registry, service
from commbase.billing.providers.base import PaymentDeclined
from commbase.billing.providers.enums import Outcome
from commbase.core.effects import EffectContext, effect
from commbase.core.errors import NotFound, ValidationFailed
from commbase.core.outbox import ClaimedEvent

CHARGE = "billing.charge_invoice"
REFUND = "billing.payment_refund"


async def _charge_row(ctx: EffectContext, event: ClaimedEvent) -> tuple[InvoicePayment, str] | None:
    """The pending payment this event charges (made on the first run), and the saved
    payment method; None when there is nothing to charge."""
    async with ctx.database.sessionmaker() as session:
        key = f"charge:{event.event_id}"
        payment = await session.scalar(
            select(InvoicePayment).where(InvoicePayment.idempotency_key == key)
        )
        try:
            invoice = await invoices.get_invoice(
                session, org_id=event.org_id, invoice_id=event.payload["id"], for_update=True
            )
        except NotFound:
            return None
        customer = await customers_service.get_customer(
            session, org_id=invoice.org_id, customer_id=invoice.customer_id
        )
        method = customer.default_payment_method
        provider = registry.saved_method_provider(method)
        if payment is None:
            if (
                provider is None
                or method is None
                or invoice.status != InvoiceStatus.OPEN
                or invoice.amount_due <= 0
                or invoice.subscription_id is None
                or (
                    event.type == invoice_events.INVOICE_FINALIZED
                    and invoice.billing_reason not in PERIOD_REASONS
                )
            ):
                return None
            payment = InvoicePayment(
                org_id=invoice.org_id,
                invoice_id=invoice.id,
                amount=invoice.amount_due,
                currency=invoice.currency,
                provider=provider,
                status=InvoicePaymentStatus.PENDING,
                idempotency_key=key,
                automatic=True,
                reference=method,
            )
            session.add(payment)
            await session.commit()
        if payment.status != InvoicePaymentStatus.PENDING:
            return None
        return payment, payment.reference or ""


async def _charge_gave_up(ctx: EffectContext, event: ClaimedEvent, error: str) -> None:
    async with ctx.database.sessionmaker() as session:
        payment = await session.scalar(
            select(InvoicePayment).where(
                InvoicePayment.idempotency_key == f"charge:{event.event_id}"
            )
        )
        if payment is not None:
            await service.fail(
                session, payment=payment, code="provider_unavailable", message=error[:500]
            )
        await session.commit()


async def _refund_gave_up(ctx: EffectContext, event: ClaimedEvent, error: str) -> None:
    await refunds.give_up(
        ctx.database, org_id=event.org_id, refund_id=event.payload["id"], error=error
    )


@effect(
    CHARGE,
    event_types=[invoice_events.INVOICE_FINALIZED, events.INVOICE_PAYMENT_RETRY],
    on_give_up=_charge_gave_up,
)
async def charge_invoice(ctx: EffectContext, event: ClaimedEvent) -> None:
    """Charge a subscription invoice to the customer's saved payment method."""
    found = await _charge_row(ctx, event)
    if found is None:
        return
    payment, method = found
    async with ctx.database.sessionmaker() as session:
        invoice = await invoices.get_invoice(
            session, org_id=payment.org_id, invoice_id=payment.invoice_id
        )
        request = service._request(
            invoice, payment, payment_method=method, customer_id=invoice.customer_id
        )
    code, message = "", ""
    answer = None
    try:
        answer = await registry.gateway(payment.provider, services=ctx.services).charge_saved(
            request
        )
    except PaymentDeclined as exc:
        code, message = exc.code, exc.message
    except ValidationFailed as exc:  # this server has no key for that provider
        code, message = "provider_not_configured", exc.detail
    # ProviderUnavailable propagates: retried with backoff, then _charge_gave_up.
    async with ctx.database.sessionmaker() as session:
        if answer is not None and answer.outcome == Outcome.SUCCEEDED:
            locked = await service.lock_payment(session, payment_id=payment.id)
            if locked is not None and locked.status == InvoicePaymentStatus.PENDING:
                locked.provider_payment_id = answer.provider_payment_id
                await service.settle(session, payment=locked, amount=None)
        elif answer is not None:  # processing: its webhook completes it
            locked = await service.lock_payment(session, payment_id=payment.id)
            if locked is not None:
                locked.provider_payment_id = answer.provider_payment_id
        else:
            await service.fail(session, payment=payment, code=code, message=message)
        await session.commit()


@effect(REFUND, event_types=[events.PAYMENT_REFUND_REQUESTED], on_give_up=_refund_gave_up)
async def send_refund(ctx: EffectContext, event: ClaimedEvent) -> None:
    """Ask the payment's provider to refund, once per refund."""
    await refunds.send(
        ctx.database, services=ctx.services, org_id=event.org_id, refund_id=event.payload["id"]
    )
