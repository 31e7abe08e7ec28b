"""Stripe through its official SDK: a PaymentIntent per invoice payment (keyed by
the payment row), off-session charges of a saved card, refunds, and the signed
webhook (``Stripe-Signature``, verified by the SDK against our endpoint secrets)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from commbase.billing import payments as wallet_payments
from commbase.billing import stripe_gateway
from commbase.billing.providers.base import (
    PaymentDeclined,
    PaymentRequest,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    ProviderUnavailable,
)
from commbase.billing.providers.enums import Outcome
from commbase.settings import Settings

_OUTCOMES = {"succeeded": Outcome.SUCCEEDED, "canceled": Outcome.FAILED}


def _outcome(status: str) -> Outcome:
    return _OUTCOMES.get(status, Outcome.PENDING)


class StripeGateway:
    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def _create_intent(
        self, request: PaymentRequest, params: dict[str, Any], purpose: str
    ) -> ProviderPayment:
        params = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "description": request.description,
            "metadata": request.metadata,
            **params,
        }
        options = {"idempotency_key": stripe_gateway.idempotency_key(purpose, request.reference)}
        try:
            async with stripe_gateway.client(self.settings, livemode=request.livemode) as client:
                intent = await client.v1.payment_intents.create_async(
                    params,  # type: ignore[arg-type]
                    options,  # type: ignore[arg-type]
                )
        except stripe.StripeError as exc:
            if stripe_gateway.is_final(exc):
                raise PaymentDeclined(
                    stripe_gateway.error_code(exc), stripe_gateway.error_message(exc)
                ) from exc
            raise ProviderUnavailable(stripe_gateway.error_message(exc)) from exc
        return ProviderPayment(
            provider_payment_id=intent.id,
            outcome=_outcome(intent.status),
            client_secret=intent.client_secret,
        )

    async def checkout(self, request: PaymentRequest) -> ProviderPayment:
        return await self._create_intent(request, {}, "invoice")

    async def charge_saved(self, request: PaymentRequest) -> ProviderPayment:
        params: dict[str, Any] = {
            "payment_method": request.payment_method,
            "off_session": True,
            "confirm": True,
        }
        if request.customer_id and request.customer_id.startswith("cus_"):
            params["customer"] = request.customer_id
        payment = await self._create_intent(request, params, "invoice-charge")
        if payment.outcome == Outcome.PENDING:
            # requires_action / requires_payment_method: the customer is not there.
            raise PaymentDeclined("authentication_required", "The card needs the customer")
        return payment

    async def refund(
        self, *, provider_payment_id: str, amount: int, currency: str, reference: str
    ) -> ProviderRefund:
        try:
            async with stripe_gateway.client(self.settings, livemode=True) as client:
                refund = await client.v1.refunds.create_async(
                    {"payment_intent": provider_payment_id, "amount": amount},
                    {
                        "idempotency_key": stripe_gateway.idempotency_key(
                            "payment-refund", reference
                        )
                    },
                )
        except stripe.StripeError as exc:
            if stripe_gateway.is_final(exc):
                raise PaymentDeclined(
                    stripe_gateway.error_code(exc), stripe_gateway.error_message(exc)
                ) from exc
            raise ProviderUnavailable(stripe_gateway.error_message(exc)) from exc
        failed = refund.status in ("failed", "canceled")
        return ProviderRefund(
            provider_refund_id=refund.id,
            outcome=Outcome.FAILED if failed else Outcome.SUCCEEDED,
            failure_code=str(getattr(refund, "failure_reason", None) or refund.status)
            if failed
            else None,
        )

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        event = wallet_payments.verify_stripe_event(
            payload=body, signature=headers.get("stripe-signature"), settings=self.settings
        )
        return event_of(event)


def event_of(event: dict[str, Any]) -> ProviderEvent:
    """A verified Stripe event as a provider event (PaymentIntent results only)."""
    outcome = {
        "payment_intent.succeeded": Outcome.SUCCEEDED,
        "payment_intent.payment_failed": Outcome.FAILED,
    }.get(str(event.get("type")))
    intent: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    error = intent.get("last_payment_error") or {}
    received = intent.get("amount_received") or intent.get("amount")
    return ProviderEvent(
        event_id=str(event.get("id")),
        outcome=outcome,
        provider_payment_id=str(intent["id"]) if intent.get("id") else None,
        amount=int(received) if isinstance(received, int) else None,
        currency=str(intent.get("currency") or "").upper() or None,
        failure_code=str(error.get("decline_code") or error.get("code") or "payment_failed")
        if outcome == Outcome.FAILED
        else None,
        failure_message=str(error.get("message") or "The payment failed")
        if outcome == Outcome.FAILED
        else None,
        details={"livemode": bool(event.get("livemode")), "metadata": intent.get("metadata")},
    )
