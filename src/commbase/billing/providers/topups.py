"""Wallet top-ups through PayPal and Cashfree (seed 003): an order at the provider
and a ``pending`` ledger entry keyed ``<provider>:<order id>``, completed or failed
once by the provider's verified webhook, as Stripe top-ups are by Stripe's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import ledger, pending, stripe_gateway
from commbase.billing.enums import LedgerCategory, LedgerStatus, LedgerType, PaymentMethod
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.providers import registry
from commbase.billing.providers.base import (
    PaymentDeclined,
    PaymentRequest,
    ProviderEvent,
    ProviderPayment,
    ProviderUnavailable,
)
from commbase.billing.providers.enums import Outcome
from commbase.core.errors import ServiceUnavailable
from commbase.core.ids import new_id

log = structlog.get_logger("commbase.billing")


async def start_order_topup(
    session: AsyncSession,
    *,
    services: Mapping[str, Any],
    wallet: Wallet,
    provider: str,
    amount: int,
    minutes: int,
    plan: str | None,
    idempotency_key: str | None,
) -> tuple[LedgerEntry, ProviderPayment]:
    """An order at PayPal or Cashfree for a top-up, and its pending entry. The order's
    reference comes from the Idempotency-Key when there is one, so a retry finds the
    same order (PayPal-Request-Id, Cashfree's order_id) and the same entry."""
    reference = (
        stripe_gateway.idempotency_key("topup", f"{wallet.id}:{idempotency_key}")[-32:]
        if idempotency_key
        else new_id("topup")
    )
    request = PaymentRequest(
        reference=f"topup_{reference}" if idempotency_key else reference,
        amount=amount,
        currency=wallet.currency,
        description=f"Top-up of wallet {wallet.id}",
        metadata={"wallet_id": wallet.id, "org_id": wallet.org_id},
        customer_id=wallet.owner_id,
    )
    try:
        order = await registry.gateway(provider, services=services).checkout(request)
    except PaymentDeclined as exc:
        raise ServiceUnavailable(f"{provider} refused the order: {exc.message}") from exc
    except ProviderUnavailable as exc:
        raise ServiceUnavailable(f"{provider} is unavailable: {exc}") from exc
    entry = await pending.record_pending(
        session,
        wallet=wallet,
        amount=amount,
        minutes=minutes,
        posting=ledger.Posting(
            type=LedgerType.CREDIT,
            category=LedgerCategory.WALLET_TOPUP,
            payment_method=PaymentMethod(provider),
            provider_transaction_id=order.provider_payment_id,
            plan=plan,
            idempotency_key=f"{provider}:{order.provider_payment_id}",
            details={f"{provider}_order_id": order.provider_payment_id},
        ),
    )
    return entry, order


async def apply_provider_event(
    session: AsyncSession, *, provider: str, event: ProviderEvent
) -> str:
    """Complete or fail the pending top-up a verified PayPal or Cashfree event is
    about, once; ``ignored`` when there is none (or it moved already)."""
    entry = await ledger.existing_entry(session, f"{provider}:{event.provider_payment_id}")
    if entry is None or entry.status != LedgerStatus.PENDING:
        return "ignored"
    if event.outcome == Outcome.FAILED:
        failed = await pending.fail_pending(
            session,
            entry=entry,
            code=event.failure_code or "payment_failed",
            message=event.failure_message or "The payment failed",
        )
        return "failed" if failed else "ignored"
    if event.currency is not None and event.currency != entry.currency:
        return "ignored"
    if event.amount is not None and event.amount != entry.amount:
        log.warning("provider top-up amount differs", entry_id=entry.id, amount=event.amount)
        return "ignored"
    settled = await pending.settle_pending(
        session,
        entry=entry,
        details={
            f"{provider}_event_id": event.event_id,
            **{k: v for k, v in event.details.items() if isinstance(v, str)},
        },
    )
    return "credited" if settled else "ignored"
