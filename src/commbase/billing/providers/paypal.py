"""PayPal Orders v2 over httpx: an order per payment (``PayPal-Request-Id`` from our
row), captured once the payer approved it, refunds of its capture, and webhooks
verified by PayPal itself (``POST /v1/notifications/verify-webhook-signature``
with the ``PAYPAL-*`` transmission headers and our webhook id): PayPal signs with
certificates it rotates, so asking it is the documented way to verify.

Events: ``CHECKOUT.ORDER.APPROVED`` (capture now), ``PAYMENT.CAPTURE.COMPLETED``
(paid), ``PAYMENT.CAPTURE.DENIED`` / ``DECLINED`` (failed).
"""

from __future__ import annotations

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
from commbase.core.money import exponent, to_major, to_minor
from commbase.settings import Settings

TIMEOUT_S = 15.0
_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


def value_of(amount: int, currency: str) -> str:
    """Minor units as PayPal's decimal string with the currency's digits ("100.00")."""
    return f"{to_major(amount, currency):.{exponent(currency)}f}"


def money(amount: Mapping[str, Any] | None) -> tuple[int | None, str | None]:
    """PayPal's ``{"currency_code": "USD", "value": "12.34"}`` in minor units."""
    if not amount:
        return None, None
    currency = str(amount.get("currency_code") or "").upper()
    try:
        return to_minor(Decimal(str(amount.get("value"))), currency), currency
    except (InvalidOperation, ValueError):
        return None, currency or None


class PayPalGateway:
    name = "paypal"

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.transport = transport

    @property
    def configured(self) -> bool:
        return bool(self.settings.paypal_client_id and self.settings.paypal_client_secret)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        raw_body: bytes | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        settings = self.settings
        if not (settings.paypal_client_id and settings.paypal_client_secret):
            raise invalid(
                "PayPal is not configured on this server (COMMBASE_PAYPAL_CLIENT_ID)", "provider"
            )
        async with httpx.AsyncClient(
            base_url=settings.paypal_api_base, transport=self.transport, timeout=TIMEOUT_S
        ) as client:
            try:
                token = await client.post(
                    "/v1/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(
                        settings.paypal_client_id,
                        settings.paypal_client_secret.get_secret_value(),
                    ),
                )
                if token.status_code != 200:
                    raise ProviderUnavailable(
                        f"PayPal refused our credentials ({token.status_code})"
                    )
                headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                if request_id:
                    headers["PayPal-Request-Id"] = request_id
                if raw_body is not None:
                    headers["Content-Type"] = "application/json"
                answer = await client.request(
                    method, path, json=json_body, content=raw_body, headers=headers
                )
            except httpx.HTTPError as exc:
                raise ProviderUnavailable(f"PayPal could not be reached: {exc}") from exc
        if answer.status_code >= 500 or answer.status_code == 429:
            raise ProviderUnavailable(f"PayPal answered {answer.status_code}")
        body: dict[str, Any] = answer.json() if answer.content else {}
        if answer.status_code >= 400:
            detail = (body.get("details") or [{}])[0]
            raise PaymentDeclined(
                str(detail.get("issue") or body.get("name") or "paypal_error"),
                str(detail.get("description") or body.get("message") or "PayPal refused")[:500],
            )
        return body

    async def checkout(self, request: PaymentRequest) -> ProviderPayment:
        unit: dict[str, Any] = {
            "reference_id": request.reference,
            "custom_id": request.reference,
            "description": request.description[:127],
            "amount": {
                "currency_code": request.currency,
                "value": value_of(request.amount, request.currency),
            },
        }
        body: dict[str, Any] = {"intent": "CAPTURE", "purchase_units": [unit]}
        if request.return_url:
            body["payment_source"] = {
                "paypal": {"experience_context": {"return_url": request.return_url}}
            }
        order = await self._call(
            "POST", "/v2/checkout/orders", json_body=body, request_id=f"order-{request.reference}"
        )
        approve = next(
            (
                link["href"]
                for link in order.get("links") or []
                if link.get("rel") in ("approve", "payer-action")
            ),
            None,
        )
        return ProviderPayment(
            provider_payment_id=str(order["id"]), outcome=Outcome.PENDING, approval_url=approve
        )

    async def capture(self, order_id: str) -> ProviderPayment:
        """Capture an approved order (the same request id: captured once)."""
        order = await self._call(
            "POST", f"/v2/checkout/orders/{order_id}/capture", request_id=f"capture-{order_id}"
        )
        status = str(order.get("status"))
        if status == "COMPLETED":
            return ProviderPayment(provider_payment_id=order_id, outcome=Outcome.SUCCEEDED)
        return ProviderPayment(provider_payment_id=order_id, outcome=Outcome.PENDING)

    async def charge_saved(self, request: PaymentRequest) -> ProviderPayment:
        raise PaymentDeclined("not_supported", "PayPal payments are approved by the payer")

    async def refund(
        self, *, provider_payment_id: str, amount: int, currency: str, reference: str
    ) -> ProviderRefund:
        order = await self._call("GET", f"/v2/checkout/orders/{provider_payment_id}")
        captures = [
            capture
            for unit in order.get("purchase_units") or []
            for capture in (unit.get("payments") or {}).get("captures") or []
        ]
        if not captures:
            raise PaymentDeclined("not_captured", "The PayPal order has no capture to refund")
        refund = await self._call(
            "POST",
            f"/v2/payments/captures/{captures[0]['id']}/refund",
            json_body={"amount": {"currency_code": currency, "value": value_of(amount, currency)}},
            request_id=f"refund-{reference}",
        )
        failed = refund.get("status") in ("CANCELLED", "FAILED")
        return ProviderRefund(
            provider_refund_id=str(refund.get("id")),
            outcome=Outcome.FAILED if failed else Outcome.SUCCEEDED,
            failure_code=str(refund.get("status")).lower() if failed else None,
        )

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        sent = {field: headers.get(header) for field, header in _HEADERS.items()}
        if not all(sent.values()):
            raise InvalidRequest("Missing PayPal transmission headers")
        if self.settings.paypal_webhook_id is None or not self.configured:
            raise ServiceUnavailable(
                "PayPal webhooks are not configured (COMMBASE_PAYPAL_WEBHOOK_ID)"
            )
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise InvalidRequest("The PayPal event is not valid JSON") from exc
        if not isinstance(event, dict):
            raise InvalidRequest("The PayPal event is not an object")
        try:
            answer = await self._call(
                "POST",
                "/v1/notifications/verify-webhook-signature",
                # The event goes back byte for byte: PayPal's signature covers the body
                # as sent, and re-serialized JSON may differ from it.
                raw_body=json.dumps(
                    {**sent, "webhook_id": self.settings.paypal_webhook_id}
                ).encode()[:-1]
                + b', "webhook_event": '
                + body
                + b"}",
            )
        except PaymentDeclined as exc:
            raise InvalidRequest(f"PayPal did not verify the event: {exc.message}") from exc
        except ProviderUnavailable as exc:
            raise ServiceUnavailable(f"PayPal could not verify the event: {exc}") from exc
        if answer.get("verification_status") != "SUCCESS":
            raise InvalidRequest("The PayPal signature does not verify")
        return event_of(event)


def event_of(event: dict[str, Any]) -> ProviderEvent:
    kind = str(event.get("event_type"))
    resource: dict[str, Any] = event.get("resource") or {}
    event_id = str(event.get("id"))
    if kind == "CHECKOUT.ORDER.APPROVED":
        return ProviderEvent(
            event_id=event_id,
            outcome=None,
            provider_payment_id=str(resource.get("id")),
            details={"approved": True},
        )
    outcome = {
        "PAYMENT.CAPTURE.COMPLETED": Outcome.SUCCEEDED,
        "PAYMENT.CAPTURE.DENIED": Outcome.FAILED,
        "PAYMENT.CAPTURE.DECLINED": Outcome.FAILED,
    }.get(kind)
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    amount, currency = money(resource.get("amount"))
    return ProviderEvent(
        event_id=event_id,
        outcome=outcome,
        provider_payment_id=related.get("order_id"),
        amount=amount,
        currency=currency,
        failure_code=kind.rsplit(".", 1)[-1].lower() if outcome == Outcome.FAILED else None,
        failure_message=f"PayPal reported {kind}" if outcome == Outcome.FAILED else None,
        details={"capture_id": resource.get("id")},
    )
