"""Top-ups through payment providers: ``manual`` (an admin credits) and ``stripe``.

Stripe: a top-up creates a PaymentIntent whose metadata names the wallet; the
``payment_intent.succeeded`` webhook credits the wallet once per intent
(ledger idempotency key ``stripe:<intent id>``), however often Stripe retries.
"""

from __future__ import annotations

import asyncio
from typing import Any

import stripe
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from commbase.settings import Settings

log = structlog.get_logger("commbase.billing")


async def manual_topup(
    session: AsyncSession,
    *,
    wallet: Wallet,
    amount: int,
    minutes: int,
    plan: str | None,
    description: str | None,
    actor_id: str,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """An administrator credits the wallet directly."""
    return await service.credit(
        session,
        wallet=wallet,
        amount=amount,
        minutes=minutes,
        posting=service.Posting(
            type="credit",
            category="wallet_topup",
            payment_method="admin",
            plan=plan,
            description=description,
            idempotency_key=idempotency_key,
            details={"credited_by": actor_id},
        ),
    )


async def adjust(
    session: AsyncSession,
    *,
    wallet: Wallet,
    amount: int,
    reason: str,
    actor_id: str,
) -> LedgerEntry:
    """An admin adjustment: positive adds, negative takes from the available balance."""
    posting = service.Posting(
        type="adjustment",
        category="admin_adjustment",
        payment_method="admin",
        description=reason,
        details={"adjusted_by": actor_id},
    )
    if amount >= 0:
        return await service.credit(session, wallet=wallet, amount=amount, posting=posting)
    return await service.debit(session, wallet=wallet, amount=-amount, posting=posting)


async def create_stripe_intent(
    *,
    settings: Settings,
    wallet: Wallet,
    amount: int,
    minutes: int,
    plan: str | None,
    off_session: bool = False,
) -> dict[str, Any]:
    """Create a PaymentIntent for a top-up; the webhook credits the wallet."""
    if settings.stripe_api_key is None:
        raise ServiceUnavailable("Stripe is not configured (COMMBASE_STRIPE_API_KEY)")
    params: dict[str, Any] = {
        "amount": amount,
        "currency": wallet.currency.lower(),
        "metadata": {
            "wallet_id": wallet.id,
            "org_id": wallet.org_id,
            "minutes": str(minutes),
            "plan": plan or "",
        },
        "api_key": settings.stripe_api_key.get_secret_value(),
    }
    if wallet.provider_customer_id:
        params["customer"] = wallet.provider_customer_id
    if off_session and wallet.provider_payment_method_id:
        params.update(
            payment_method=wallet.provider_payment_method_id, off_session=True, confirm=True
        )
        params["metadata"]["auto_recharge"] = "true"
    try:
        intent = await asyncio.to_thread(stripe.PaymentIntent.create, **params)
    except stripe.StripeError as exc:
        raise ServiceUnavailable(f"Stripe refused the payment: {exc.user_message or exc}") from exc
    return {"id": intent.id, "client_secret": intent.client_secret, "status": intent.status}


def verify_stripe_event(*, payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event as plain data, if Stripe signed this payload with our endpoint secret."""
    if not signature:
        raise InvalidRequest("Missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidRequest("The Stripe signature does not verify") from exc
    data: dict[str, Any] = event.to_dict()
    return data


async def apply_stripe_event(session: AsyncSession, *, event: dict[str, Any]) -> str:
    """Credit the wallet named by a succeeded PaymentIntent; returns what happened."""
    if event["type"] != "payment_intent.succeeded":
        return "ignored"
    intent = event["data"]["object"]
    metadata = intent.get("metadata") or {}
    wallet_id, org_id = metadata.get("wallet_id"), metadata.get("org_id")
    if not wallet_id or not org_id:
        log.warning("stripe intent without wallet metadata", intent=intent.get("id"))
        return "ignored"
    try:
        wallet = await service.get_wallet(session, org_id=org_id, wallet_id=wallet_id)
    except NotFound:
        # Only a wallet that does not exist is acknowledged; any other failure
        # propagates as a 5xx so that Stripe retries and the payment is not lost.
        log.warning("stripe intent for an unknown wallet", intent=intent.get("id"))
        return "ignored"
    currency = str(intent.get("currency", "")).upper()
    if currency != wallet.currency:
        log.warning("stripe intent currency differs from wallet", intent=intent.get("id"))
        return "ignored"
    minutes_raw = str(metadata.get("minutes") or "0")
    await service.credit(
        session,
        wallet=wallet,
        amount=int(intent.get("amount_received") or intent.get("amount") or 0),
        minutes=int(minutes_raw) if minutes_raw.isdigit() else 0,
        posting=service.Posting(
            type="credit",
            category="wallet_topup",
            payment_method="stripe",
            provider_transaction_id=intent["id"],
            plan=metadata.get("plan") or None,
            idempotency_key=f"stripe:{intent['id']}",
            details={
                "stripe_event_id": event["id"],
                "auto_recharge": metadata.get("auto_recharge") == "true",
            },
        ),
    )
    return "credited"


async def auto_recharge(session: AsyncSession, *, wallet: Wallet, trigger: LedgerEntry) -> None:
    """Top the wallet up by its configured amount through its provider.

    The ``manual`` provider stands for a pre-authorised internal top-up and
    credits at once; ``stripe`` charges the saved card off-session and the
    webhook credits when the payment succeeds.
    """
    amount = wallet.auto_recharge_amount or 0
    if amount <= 0:
        return
    if wallet.provider == "stripe":
        from commbase.settings import get_settings

        try:
            await create_stripe_intent(
                settings=get_settings(),
                wallet=wallet,
                amount=amount,
                minutes=0,
                plan=None,
                off_session=True,
            )
        except ServiceUnavailable as exc:
            log.warning("auto-recharge failed", wallet_id=wallet.id, error=exc.detail)
        return
    await service.credit(
        session,
        wallet=wallet,
        amount=amount,
        posting=service.Posting(
            type="credit",
            category="wallet_topup",
            payment_method="auto_recharge",
            idempotency_key=f"recharge:{trigger.id}",
            description="Automatic recharge",
            details={"auto_recharge": True, "trigger": trigger.id},
        ),
    )
