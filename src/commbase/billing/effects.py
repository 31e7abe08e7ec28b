"""Payments made after commit, from the outbox: automatic recharges and refunds
sent to Stripe (``core.effects``).

Each handler reads its pending ledger entry, acts only while it is still
pending, and gives Stripe an idempotency key derived from the row that asked
for the payment, so a retried or duplicated run (a second worker, a lease that
expired mid-request) is answered by Stripe with the first result instead of a
second charge. Settings come from the runner's services (``settings``), never
from the process environment.

* ``billing.recharge`` (``wallet.recharge_requested``): charges the wallet's saved
  card off-session for its recharge amount, keyed by the charge that crossed
  the threshold. A succeeded intent completes the pending top-up at once (the
  ``payment_intent.succeeded`` webhook would too, whichever comes first); a
  declined card or an intent that needs the customer marks it failed.
* ``billing.stripe_refund`` (``wallet.refund_requested``): refunds a Stripe top-up,
  keyed by the refund entry; completes it, or marks it failed and gives the held
  money back.

Stripe errors that a retry may cure (network, rate limit, Stripe's own 5xx) are
retried with backoff; after the last attempt the entry is marked failed.
"""

from __future__ import annotations

from typing import Any

import stripe
import structlog

from commbase.billing import events, ledger, pending, stripe_gateway
from commbase.billing import service as wallets
from commbase.billing.enums import LedgerStatus
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core.effects import EffectContext, effect
from commbase.core.errors import ValidationFailed
from commbase.core.outbox import ClaimedEvent
from commbase.settings import Settings

log = structlog.get_logger("commbase.billing")
RECHARGE = "billing.recharge"
STRIPE_REFUND = "billing.stripe_refund"


def _settings(ctx: EffectContext) -> Settings:
    settings = ctx.services.get("settings")
    if not isinstance(settings, Settings):
        raise RuntimeError("the effect runner has no 'settings' service")
    return settings


async def _pending(ctx: EffectContext, event: ClaimedEvent) -> tuple[LedgerEntry, Wallet] | None:
    async with ctx.database.sessionmaker() as session:
        entry = await ledger.find_entry(session, org_id=event.org_id, entry_id=event.payload["id"])
        if entry is None or entry.status != LedgerStatus.PENDING:
            return None
        wallet = await wallets.get_wallet(session, org_id=entry.org_id, wallet_id=entry.wallet_id)
        return entry, wallet


async def _fail(ctx: EffectContext, event: ClaimedEvent, code: str, message: str) -> None:
    async with ctx.database.sessionmaker() as session:
        entry = await ledger.find_entry(session, org_id=event.org_id, entry_id=event.payload["id"])
        if entry is not None:
            await pending.fail_pending(session, entry=entry, code=code, message=message)
        await session.commit()


async def _settle(
    ctx: EffectContext, event: ClaimedEvent, *, provider_id: str, details: dict[str, Any]
) -> None:
    async with ctx.database.sessionmaker() as session:
        entry = await ledger.find_entry(session, org_id=event.org_id, entry_id=event.payload["id"])
        if entry is not None:
            await pending.settle_pending(
                session, entry=entry, provider_transaction_id=provider_id, details=details
            )
        await session.commit()


async def _remember(ctx: EffectContext, event: ClaimedEvent, *, provider_id: str) -> None:
    """Note the provider's id on a still-pending entry (its webhook completes it)."""
    async with ctx.database.sessionmaker() as session:
        entry = await ledger.find_entry(session, org_id=event.org_id, entry_id=event.payload["id"])
        if entry is not None and entry.status == LedgerStatus.PENDING:
            entry.provider_transaction_id = provider_id
        await session.commit()


async def _gave_up(ctx: EffectContext, event: ClaimedEvent, error: str) -> None:
    await _fail(ctx, event, "provider_unavailable", f"Gave up asking the provider: {error}")


@effect(RECHARGE, event_types=[events.WALLET_RECHARGE_REQUESTED], on_give_up=_gave_up)
async def charge_recharge(ctx: EffectContext, event: ClaimedEvent) -> None:
    """Charge the saved card for a pending automatic recharge."""
    found = await _pending(ctx, event)
    if found is None:
        return
    entry, wallet = found
    if not (wallet.provider_customer_id and wallet.provider_payment_method_id):
        await _fail(ctx, event, "no_payment_method", "The wallet has no saved card to charge")
        return
    trigger = str(entry.details.get("trigger") or entry.id)
    params = {
        "amount": entry.amount,
        "currency": wallet.currency.lower(),
        "customer": wallet.provider_customer_id,
        "payment_method": wallet.provider_payment_method_id,
        "off_session": True,
        "confirm": True,
        "metadata": {
            "wallet_id": wallet.id,
            "org_id": wallet.org_id,
            "ledger_entry_id": entry.id,
            "auto_recharge": "true",
        },
    }
    try:
        async with stripe_gateway.client(_settings(ctx), livemode=wallet.livemode) as client:
            intent = await client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": stripe_gateway.idempotency_key("recharge", trigger)},
            )
    except ValidationFailed as exc:  # this server has no key for the wallet's mode
        await _fail(ctx, event, "provider_not_configured", exc.detail)
        return
    except stripe.StripeError as exc:
        if not stripe_gateway.is_final(exc):
            raise
        await _fail(ctx, event, stripe_gateway.error_code(exc), stripe_gateway.error_message(exc))
        return
    if intent.status == "succeeded":
        await _settle(ctx, event, provider_id=intent.id, details={"payment_intent": intent.id})
    elif intent.status in ("processing", "requires_capture"):
        await _remember(ctx, event, provider_id=intent.id)
    else:  # requires_action, requires_payment_method...: the customer is not there
        await _fail(ctx, event, intent.status, "The card needs the customer to complete it")


@effect(STRIPE_REFUND, event_types=[events.WALLET_REFUND_REQUESTED], on_give_up=_gave_up)
async def send_refund(ctx: EffectContext, event: ClaimedEvent) -> None:
    """Ask Stripe to refund (part of) the PaymentIntent of a refunded top-up."""
    found = await _pending(ctx, event)
    if found is None:
        return
    entry, wallet = found
    async with ctx.database.sessionmaker() as session:
        original = await ledger.find_entry(
            session, org_id=entry.org_id, entry_id=entry.refund_of or ""
        )
    if original is None or original.provider_transaction_id is None:
        await _fail(ctx, event, "no_payment", "The refunded top-up has no Stripe payment")
        return
    try:
        async with stripe_gateway.client(_settings(ctx), livemode=wallet.livemode) as client:
            refund = await client.v1.refunds.create_async(
                {
                    "payment_intent": original.provider_transaction_id,
                    "amount": entry.amount,
                    "metadata": {"wallet_id": wallet.id, "ledger_entry_id": entry.id},
                },
                {"idempotency_key": stripe_gateway.idempotency_key("refund", entry.id)},
            )
    except ValidationFailed as exc:  # this server has no key for the wallet's mode
        await _fail(ctx, event, "provider_not_configured", exc.detail)
        return
    except stripe.StripeError as exc:
        if not stripe_gateway.is_final(exc):
            raise
        await _fail(ctx, event, stripe_gateway.error_code(exc), stripe_gateway.error_message(exc))
        return
    if refund.status in ("failed", "canceled"):
        reason = str(getattr(refund, "failure_reason", None) or refund.status)
        await _fail(ctx, event, reason, f"Stripe could not refund the payment ({reason})")
        return
    await _settle(ctx, event, provider_id=refund.id, details={"stripe_refund": refund.id})
