"""Cashfree Payment Gateway (API version 2023-08-01) over httpx: an order per payment
(``order_id`` is our row's id, ``x-idempotency-key`` too), refunds, and webhooks
verified offline: ``x-webhook-signature`` must be
``base64(HMAC-SHA256(x-webhook-timestamp + raw body, client secret))`` and the
timestamp (milliseconds) within ``COMMBASE_CASHFREE_WEBHOOK_TOLERANCE_S`` of now,
so a captured delivery cannot be replayed later.

Events: ``PAYMENT_SUCCESS_WEBHOOK`` (paid), ``PAYMENT_FAILED_WEBHOOK`` and
``PAYMENT_USER_DROPPED_WEBHOOK`` (failed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from commbase.billing.providers.base import (
    PaymentDeclined,
    PaymentRequest,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    ProviderUnavailable,
)
from commbase.billing.providers.enums import Outcome
from commbase.core.errors import InvalidRequest, ServiceUnavailable, invalid
from commbase.core.money import to_major, to_minor
from commbase.core.time import utcnow
from commbase.settings import Settings

API_VERSION = "2023-08-01"
TIMEOUT_S = 15.0


def signature(*, timestamp: str, body: bytes, secret: str) -> str:
    """Cashfree's webhook signature of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(
    *, headers: Mapping[str, str], body: bytes, secret: str, tolerance_s: int
) -> None:
    """InvalidRequest unless Cashfree signed ``body`` recently with ``secret``."""
    sent, timestamp = headers.get("x-webhook-signature"), headers.get("x-webhook-timestamp")
    if not sent or not timestamp:
        raise InvalidRequest("Missing x-webhook-signature or x-webhook-timestamp")
    if not timestamp.isdigit() or len(timestamp) > 16:
        raise InvalidRequest("x-webhook-timestamp is not a timestamp")
    expected = signature(timestamp=timestamp, body=body, secret=secret)
    if not hmac.compare_digest(expected, sent):
        raise InvalidRequest("The Cashfree signature does not verify")
    seconds = int(timestamp) / 1000 if len(timestamp) >= 13 else int(timestamp)
    if abs(utcnow().timestamp() - seconds) > tolerance_s:
        raise InvalidRequest("The Cashfree webhook is stale (its timestamp is too far from now)")


class CashfreeGateway:
    name = "cashfree"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.transport = transport

    async def _call(self, path: str, body: dict[str, Any], *, key: str) -> dict[str, Any]:
        settings = self.settings
        if not (settings.cashfree_client_id and settings.cashfree_client_secret):
            raise invalid(
                "Cashfree is not configured on this server (COMMBASE_CASHFREE_CLIENT_ID)",
                "provider",
            )
        headers = {
            "x-client-id": settings.cashfree_client_id,
            "x-client-secret": settings.cashfree_client_secret.get_secret_value(),
            "x-api-version": API_VERSION,
            "x-idempotency-key": key,
        }
        try:
            async with httpx.AsyncClient(
                base_url=settings.cashfree_api_base, transport=self.transport, timeout=TIMEOUT_S
            ) as client:
                answer = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"Cashfree could not be reached: {exc}") from exc
        if answer.status_code >= 500 or answer.status_code == 429:
            raise ProviderUnavailable(f"Cashfree answered {answer.status_code}")
        result: dict[str, Any] = answer.json() if answer.content else {}
        if answer.status_code >= 400:
            raise PaymentDeclined(
                str(result.get("code") or "cashfree_error"),
                str(result.get("message") or "Cashfree refused")[:500],
            )
        return result

    async def checkout(self, request: PaymentRequest) -> ProviderPayment:
        customer: dict[str, Any] = {"customer_id": request.customer_id or request.reference}
        if request.customer_phone:
            customer["customer_phone"] = request.customer_phone
        if request.customer_email:
            customer["customer_email"] = request.customer_email
        body: dict[str, Any] = {
            "order_id": request.reference,
            "order_amount": float(to_major(request.amount, request.currency)),
            "order_currency": request.currency,
            "customer_details": customer,
            "order_note": request.description[:200],
            "order_tags": {k: v[:250] for k, v in list(request.metadata.items())[:10]},
        }
        if request.return_url:
            body["order_meta"] = {"return_url": request.return_url}
        order = await self._call("/pg/orders", body, key=f"order-{request.reference}")
        return ProviderPayment(
            provider_payment_id=str(order.get("order_id") or request.reference),
            outcome=Outcome.SUCCEEDED if order.get("order_status") == "PAID" else Outcome.PENDING,
            payment_session_id=order.get("payment_session_id"),
        )

    async def charge_saved(self, request: PaymentRequest) -> ProviderPayment:
        raise PaymentDeclined("not_supported", "Cashfree payments are completed by the payer")

    async def refund(
        self, *, provider_payment_id: str, amount: int, currency: str, reference: str
    ) -> ProviderRefund:
        refund = await self._call(
            f"/pg/orders/{provider_payment_id}/refunds",
            {
                "refund_amount": float(to_major(amount, currency)),
                "refund_id": reference,
                "refund_note": "Refund",
            },
            key=f"refund-{reference}",
        )
        failed = refund.get("refund_status") in ("CANCELLED", "FAILED")
        return ProviderRefund(
            provider_refund_id=str(refund.get("cf_refund_id") or reference),
            outcome=Outcome.FAILED if failed else Outcome.SUCCEEDED,
            failure_code=str(refund.get("refund_status")).lower() if failed else None,
        )

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        if not headers.get("x-webhook-signature") or not headers.get("x-webhook-timestamp"):
            raise InvalidRequest("Missing x-webhook-signature or x-webhook-timestamp")
        secret = self.settings.cashfree_client_secret
        if secret is None:
            raise ServiceUnavailable("Cashfree is not configured (COMMBASE_CASHFREE_CLIENT_SECRET)")
        verify_signature(
            headers=headers,
            body=body,
            secret=secret.get_secret_value(),
            tolerance_s=self.settings.cashfree_webhook_tolerance_s,
        )
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise InvalidRequest("The Cashfree event is not valid JSON") from exc
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise InvalidRequest("The Cashfree event has no data")
        return event_of(event)


def event_of(event: dict[str, Any]) -> ProviderEvent:
    kind = str(event.get("type"))
    data: dict[str, Any] = event["data"]
    order: dict[str, Any] = data.get("order") or {}
    payment: dict[str, Any] = data.get("payment") or {}
    error: dict[str, Any] = data.get("error_details") or {}
    outcome = {
        "PAYMENT_SUCCESS_WEBHOOK": Outcome.SUCCEEDED,
        "PAYMENT_FAILED_WEBHOOK": Outcome.FAILED,
        "PAYMENT_USER_DROPPED_WEBHOOK": Outcome.FAILED,
    }.get(kind)
    currency = str(payment.get("payment_currency") or order.get("order_currency") or "").upper()
    amount = None
    try:
        raw = payment.get("payment_amount")
        amount = to_minor(Decimal(str(raw)), currency) if raw is not None else None
    except (InvalidOperation, ValueError):
        amount = None
    order_id = order.get("order_id")
    return ProviderEvent(
        event_id=f"{order_id}:{payment.get('cf_payment_id')}:{kind}",
        outcome=outcome,
        provider_payment_id=str(order_id) if order_id else None,
        amount=amount,
        currency=currency or None,
        failure_code=str(error.get("error_code") or payment.get("payment_status") or "failed")
        if outcome == Outcome.FAILED
        else None,
        failure_message=str(
            error.get("error_description") or payment.get("payment_message") or "failed"
        )[:500]
        if outcome == Outcome.FAILED
        else None,
        details={"cf_payment_id": payment.get("cf_payment_id")},
    )
