"""PayPal and Cashfree as httpx transports that answer with their APIs' real shapes
(PayPal Orders v2 and webhook verification, Cashfree PG 2023-08-01), recording what
arrived; and Cashfree's webhook signing, done as Cashfree documents it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

CASHFREE_SECRET = "cfsk_ma_test_commbase"
PAYPAL_WEBHOOK_ID = "8PT597110X687430LKGECATA"


@dataclass
class FakeProviders:
    sent: list[httpx.Request] = field(default_factory=list)
    paypal_verification: str = "SUCCESS"
    paypal_orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.sent if r.url.path == path]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        path = request.url.path
        if path == "/v1/oauth2/token":
            return httpx.Response(
                200,
                json={
                    "scope": "https://uri.paypal.com/services/payments/payment",
                    "access_token": "A21AAFakeToken",
                    "token_type": "Bearer",
                    "app_id": "APP-80W284485P519543T",
                    "expires_in": 31668,
                },
            )
        if path == "/v2/checkout/orders" and request.method == "POST":
            body = json.loads(request.content)
            request_id = request.headers["paypal-request-id"]
            order_id = "5O" + hashlib.sha256(request_id.encode()).hexdigest()[:15].upper()
            self.paypal_orders[order_id] = body["purchase_units"][0]
            return httpx.Response(
                201,
                json={
                    "id": order_id,
                    "status": "PAYER_ACTION_REQUIRED",
                    "payment_source": {"paypal": {}},
                    "links": [
                        {
                            "href": f"https://api-m.paypal.com/v2/checkout/orders/{order_id}",
                            "rel": "self",
                            "method": "GET",
                        },
                        {
                            "href": f"https://www.paypal.com/checkoutnow?token={order_id}",
                            "rel": "payer-action",
                            "method": "GET",
                        },
                    ],
                },
            )
        if path.startswith("/v2/checkout/orders/") and path.endswith("/capture"):
            order_id = path.split("/")[4]
            unit = self.paypal_orders[order_id]
            return httpx.Response(
                201,
                json={
                    "id": order_id,
                    "status": "COMPLETED",
                    "purchase_units": [
                        {
                            "reference_id": unit["reference_id"],
                            "payments": {
                                "captures": [
                                    {
                                        "id": "3C679366HH908993F",
                                        "status": "COMPLETED",
                                        "amount": unit["amount"],
                                        "final_capture": True,
                                    }
                                ]
                            },
                        }
                    ],
                },
            )
        if path == "/v1/notifications/verify-webhook-signature":
            return httpx.Response(200, json={"verification_status": self.paypal_verification})
        if path == "/pg/orders":
            body = json.loads(request.content)
            return httpx.Response(
                200,
                json={
                    "cf_order_id": "2149460581",
                    "order_id": body["order_id"],
                    "entity": "order",
                    "order_currency": body["order_currency"],
                    "order_amount": body["order_amount"],
                    "order_status": "ACTIVE",
                    "payment_session_id": "session_a1b2c3d4e5f6",
                    "customer_details": body["customer_details"],
                },
            )
        return httpx.Response(404, json={"message": f"no route {path}"})


def paypal_headers() -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594",
        "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
        "PAYPAL-TRANSMISSION-SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz",
        "PAYPAL-TRANSMISSION-TIME": "2026-11-28T15:45:13Z",
    }


def paypal_approved(order_id: str) -> str:
    return json.dumps(
        {
            "id": f"WH-{order_id}-APPROVED",
            "event_version": "1.0",
            "create_time": "2026-11-28T15:45:13.000Z",
            "resource_type": "checkout-order",
            "resource_version": "2.0",
            "event_type": "CHECKOUT.ORDER.APPROVED",
            "summary": "An order has been approved by buyer",
            "resource": {"id": order_id, "status": "APPROVED", "intent": "CAPTURE"},
        }
    )


def cashfree_event(
    order_id: str, amount: str, currency: str, *, status: str = "SUCCESS", cf_payment_id: int = 1
) -> str:
    kind = {"SUCCESS": "PAYMENT_SUCCESS_WEBHOOK", "FAILED": "PAYMENT_FAILED_WEBHOOK"}[status]
    error = (
        {
            "error_code": "TRANSACTION_DECLINED",
            "error_description": "issuer bank or payment service provider declined the transaction",
            "error_reason": "auth_declined",
            "error_source": "customer",
        }
        if status == "FAILED"
        else None
    )
    return json.dumps(
        {
            "data": {
                "order": {
                    "order_id": order_id,
                    "order_amount": float(amount),
                    "order_currency": currency,
                    "order_tags": None,
                },
                "payment": {
                    "cf_payment_id": cf_payment_id,
                    "payment_status": status,
                    "payment_amount": float(amount),
                    "payment_currency": currency,
                    "payment_message": "Simulated response message",
                    "payment_time": "2026-11-28T21:14:35+05:30",
                    "bank_reference": "1234567890",
                    "auth_id": None,
                    "payment_method": {"upi": {"channel": None, "upi_id": "testsuccess@gocash"}},
                    "payment_group": "upi",
                },
                "customer_details": {
                    "customer_name": None,
                    "customer_id": "cus_1",
                    "customer_email": None,
                    "customer_phone": "9999999999",
                },
                "error_details": error,
            },
            "event_time": "2026-11-28T21:14:38+05:30",
            "type": kind,
        }
    )


def cashfree_headers(
    body: str, *, secret: str = CASHFREE_SECRET, age_s: float = 0
) -> dict[str, str]:
    timestamp = str(int((time.time() - age_s) * 1000))
    digest = hmac.new(secret.encode(), (timestamp + body).encode(), hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "x-webhook-timestamp": timestamp,
        "x-webhook-signature": base64.b64encode(digest).decode(),
        "x-webhook-version": "2023-08-01",
    }
