"""Top-ups through payment providers: ``manual`` (an admin credits), ``stripe``,
``paypal`` and ``cashfree``.

PayPal and Cashfree (seed 003): a top-up creates an order at the provider
(``billing.providers``) and a ``pending`` ledger entry keyed
``<provider>:<order id>``; the provider's verified webhook completes or fails it,
once (``apply_provider_event``), as Stripe's does.

Stripe: a top-up creates a PaymentIntent whose metadata names the wallet and a
``pending`` ledger entry keyed ``stripe:<intent id>``; the signed
``payment_intent.succeeded`` webhook completes it (the balance moves then) and
``payment_intent.payment_failed`` marks it failed with Stripe's error code and
message, each once however often Stripe retries. Creating the intent during
the request charges nothing: the customer confirms it with its client secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import ledger, pending, postings, stripe_gateway
from commbase.billing import service as wallets
from commbase.billing.enums import (
    LedgerCategory,
    LedgerStatus,
    LedgerType,
    PaymentMethod,
    PaymentProvider,
)
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.schemas import PaymentIntentRead, TopUpCreate, TopUpResult
from commbase.core.auth import Principal
from commbase.core.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    invalid,
)
from commbase.identity.signup import service as signup_service
from commbase.settings import Settings

log = structlog.get_logger("commbase.billing")


async def top_up(
    session: AsyncSession,
    *,
    settings: Settings,
    principal: Principal,
    wallet: Wallet,
    data: TopUpCreate,
    idempotency_key: str | None,
    services: Mapping[str, Any] | None = None,
) -> TopUpResult:
    """Manual top-ups credit at once; Stripe top-ups start a PaymentIntent and a
    pending entry that Stripe's webhook completes. The same Idempotency-Key gives
    the same entry (and intent) back. An organization opened by sign-up tops up only
    once its owner has verified their email."""
    await signup_service.require_verified(session, org_id=wallet.org_id)
    if data.provider == PaymentProvider.STRIPE:
        if wallet.livemode and not principal.livemode:
            raise PermissionDenied("Test credentials cannot pay into a live wallet")
        entry, intent = await start_stripe_topup(
            session,
            settings=settings,
            wallet=wallet,
            livemode=wallet.livemode and principal.livemode,
            amount=data.amount,
            minutes=data.minutes,
            plan=data.plan,
            idempotency_key=idempotency_key,
        )
        return TopUpResult(provider=data.provider, transaction=entry, payment_intent=intent)
    if data.provider in (PaymentProvider.PAYPAL, PaymentProvider.CASHFREE):
        if not wallet.livemode or not principal.livemode:
            raise invalid(
                f"{data.provider} has no test mode on this server; use stripe or manual",
                "provider",
            )
        from commbase.billing.providers import topups

        entry, order = await topups.start_order_topup(
            session,
            services=services or {"settings": settings},
            wallet=wallet,
            provider=data.provider,
            amount=data.amount,
            minutes=data.minutes,
            plan=data.plan,
            idempotency_key=idempotency_key,
        )
        return TopUpResult(
            provider=data.provider,
            transaction=entry,
            payment_intent=PaymentIntentRead(
                id=order.provider_payment_id, client_secret=None, status=entry.status
            ),
            approval_url=order.approval_url,
            payment_session_id=order.payment_session_id,
        )
    entry = await manual_topup(
        session,
        wallet=wallet,
        amount=data.amount,
        minutes=data.minutes,
        plan=data.plan,
        description=data.description,
        actor_id=principal.actor_id,
        idempotency_key=idempotency_key,
    )
    return TopUpResult(provider=data.provider, transaction=entry)


def _same_request(
    entry: LedgerEntry,
    *,
    amount: int,
    minutes: int,
    plan: str | None,
    description: str | None,
) -> None:
    """Nothing, if ``entry`` (of this wallet) is what this top-up asks for; else 422."""
    if (entry.category, entry.payment_method, entry.amount, entry.minutes) != (
        LedgerCategory.WALLET_TOPUP,
        PaymentMethod.ADMIN,
        amount,
        minutes,
    ) or (entry.plan, entry.description) != (plan, description):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was first used for another request; use a new key",
            transaction_id=entry.id,
        )


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
    """An administrator credits the wallet directly, once per idempotency key."""
    existing = await ledger.request_entry(session, idempotency_key, wallet=wallet)
    if existing is not None:
        _same_request(existing, amount=amount, minutes=minutes, plan=plan, description=description)
        return existing
    return await postings.credit(
        session,
        wallet=wallet,
        amount=amount,
        minutes=minutes,
        posting=ledger.Posting(
            type=LedgerType.CREDIT,
            category=LedgerCategory.WALLET_TOPUP,
            payment_method=PaymentMethod.ADMIN,
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
    posting = ledger.Posting(
        type=LedgerType.ADJUSTMENT,
        category=LedgerCategory.ADMIN_ADJUSTMENT,
        payment_method=PaymentMethod.ADMIN,
        description=reason,
        details={"adjusted_by": actor_id},
    )
    if amount >= 0:
        return await postings.credit(session, wallet=wallet, amount=amount, posting=posting)
    return await postings.debit(session, wallet=wallet, amount=-amount, posting=posting)


async def start_stripe_topup(
    session: AsyncSession,
    *,
    settings: Settings,
    wallet: Wallet,
    livemode: bool,
    amount: int,
    minutes: int,
    plan: str | None,
    idempotency_key: str | None,
) -> tuple[LedgerEntry, PaymentIntentRead]:
    """A PaymentIntent for a top-up and its pending ledger entry."""
    params: dict[str, Any] = {
        "amount": amount,
        "currency": wallet.currency.lower(),
        "metadata": {
            "wallet_id": wallet.id,
            "org_id": wallet.org_id,
            "minutes": str(minutes),
            "plan": plan or "",
        },
    }
    if wallet.provider_customer_id:
        params["customer"] = wallet.provider_customer_id
    options: dict[str, Any] = {}
    if idempotency_key:
        options["idempotency_key"] = stripe_gateway.idempotency_key("topup", idempotency_key)
    try:
        async with stripe_gateway.client(settings, livemode=livemode) as stripe_client:
            intent = await stripe_client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                options,  # type: ignore[arg-type]
            )
    except stripe.StripeError as exc:
        raise stripe_gateway.as_problem(exc) from exc
    entry = await pending.record_pending(
        session,
        wallet=wallet,
        amount=amount,
        minutes=minutes,
        posting=ledger.Posting(
            type=LedgerType.CREDIT,
            category=LedgerCategory.WALLET_TOPUP,
            payment_method=PaymentMethod.STRIPE,
            provider_transaction_id=intent.id,
            plan=plan,
            idempotency_key=f"stripe:{intent.id}",
            details={"livemode": livemode},
        ),
    )
    return entry, PaymentIntentRead(
        id=intent.id, client_secret=intent.client_secret, status=intent.status
    )


# ------------------------------------------------------------------ the webhook


def verify_stripe_event(
    *, payload: bytes, signature: str | None, settings: Settings
) -> dict[str, Any]:
    """The event, if Stripe signed this payload with one of our endpoint secrets
    (live mode, or test mode for events whose ``livemode`` is false)."""
    if not signature:
        raise InvalidRequest("Missing Stripe-Signature header")
    secrets = [
        (secret.get_secret_value(), livemode)
        for secret, livemode in (
            (settings.stripe_webhook_secret, True),
            (settings.stripe_test_webhook_secret, False),
        )
        if secret is not None
    ]
    if not secrets:
        raise ServiceUnavailable("Stripe is not configured (COMMBASE_STRIPE_WEBHOOK_SECRET)")
    for secret, livemode in secrets:
        try:
            event = stripe.Webhook.construct_event(payload, signature, secret)
        except stripe.SignatureVerificationError:
            continue
        except ValueError as exc:
            raise InvalidRequest("The Stripe event is not valid JSON") from exc
        data: dict[str, Any] = event.to_dict()
        if not livemode and data.get("livemode"):
            raise InvalidRequest("A live-mode event signed with the test-mode secret")
        return data
    raise InvalidRequest("The Stripe signature does not verify")


async def _event_entry(
    session: AsyncSession, *, intent: dict[str, Any], livemode: bool
) -> tuple[Wallet, LedgerEntry | None] | None:
    """The wallet and pending entry an intent's metadata names, if they exist and the
    event's mode is the wallet's."""
    metadata = intent.get("metadata") or {}
    wallet_id, org_id = metadata.get("wallet_id"), metadata.get("org_id")
    if not isinstance(wallet_id, str) or not isinstance(org_id, str):
        log.warning("stripe intent without wallet metadata", intent=intent.get("id"))
        return None
    try:
        wallet = await wallets.get_wallet(session, org_id=org_id, wallet_id=wallet_id)
    except NotFound:
        # Only a wallet that does not exist is acknowledged; any other failure
        # propagates as a 5xx so that Stripe retries and the payment is not lost.
        log.warning("stripe intent for an unknown wallet", intent=intent.get("id"))
        return None
    if wallet.livemode != livemode or str(intent.get("currency", "")).upper() != wallet.currency:
        log.warning("stripe intent's mode or currency differs from its wallet", intent=intent["id"])
        return None
    entry_id = metadata.get("ledger_entry_id")
    entry = None
    if isinstance(entry_id, str):
        entry = await ledger.find_entry(session, org_id=org_id, entry_id=entry_id)
    if entry is None:
        entry = await ledger.existing_entry(session, f"stripe:{intent['id']}")
    if entry is not None and entry.wallet_id != wallet.id:
        return None
    return wallet, entry


async def apply_stripe_event(session: AsyncSession, *, event: dict[str, Any]) -> str:
    """Complete or fail the top-up a PaymentIntent event is about; returns what happened."""
    if event["type"] not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return "ignored"
    intent: dict[str, Any] = event["data"]["object"]
    if (intent.get("metadata") or {}).get("invoice_payment_id"):
        from commbase.billing.providers import service as invoice_payments
        from commbase.billing.providers import stripe as stripe_provider
        from commbase.billing.providers.enums import ProviderName

        outcome = await invoice_payments.apply_event(
            session, provider=ProviderName.STRIPE, event=stripe_provider.event_of(event)
        )
        # "credited": the payment was posted (to the seller's revenue wallet).
        return "credited" if outcome == "succeeded" else outcome
    found = await _event_entry(session, intent=intent, livemode=bool(event.get("livemode")))
    if found is None:
        return "ignored"
    wallet, entry = found
    if event["type"] == "payment_intent.payment_failed":
        if entry is None or entry.status != LedgerStatus.PENDING:
            return "ignored"
        error = intent.get("last_payment_error") or {}
        await pending.fail_pending(
            session,
            entry=entry,
            code=str(error.get("decline_code") or error.get("code") or "payment_failed"),
            message=str(error.get("message") or "The payment failed"),
        )
        return "failed"
    received = int(intent.get("amount_received") or intent.get("amount") or 0)
    if entry is not None:
        settled = await pending.settle_pending(
            session,
            entry=entry,
            provider_transaction_id=intent["id"],
            details={"stripe_event_id": event["id"]},
            received=received,
        )
        return "credited" if settled else "ignored"
    # An intent created outside commbase's top-up path (or before it kept pending
    # entries): credit it, once per intent.
    metadata = intent.get("metadata") or {}
    minutes_raw = str(metadata.get("minutes") or "0")
    await postings.credit(
        session,
        wallet=wallet,
        amount=received,
        minutes=int(minutes_raw) if minutes_raw.isdigit() and len(minutes_raw) < 8 else 0,
        posting=ledger.Posting(
            type=LedgerType.CREDIT,
            category=LedgerCategory.WALLET_TOPUP,
            payment_method=PaymentMethod.STRIPE,
            provider_transaction_id=intent["id"],
            plan=str(metadata.get("plan") or "")[:40] or None,
            idempotency_key=f"stripe:{intent['id']}",
            details={"stripe_event_id": event["id"]},
        ),
    )
    return "credited"
