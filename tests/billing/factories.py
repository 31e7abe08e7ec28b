"""Builders for billing tests, through the API and the real services."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import stripe
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.settings import Settings
from tests.conftest import make_settings

WEBHOOK_SECRET = "whsec_live_commbase"
TEST_WEBHOOK_SECRET = "whsec_test_commbase"
LIVE_KEY = "sk_live_commbase_never_in_tests"
SANDBOX_KEY = "sk_test_commbase_sandbox"


async def open_wallet(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    amount: int = 0,
    minutes: int = 0,
    **body: Any,
) -> dict[str, Any]:
    """Create a wallet and top it up by hand; returns the wallet as the API shows it."""
    created = await client.post("/v1/wallets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    wallet: dict[str, Any] = created.json()
    if amount or minutes:
        topped = await client.post(
            f"/v1/wallets/{wallet['id']}/topups",
            json={"amount": amount, "minutes": minutes},
            headers=headers,
        )
        assert topped.status_code == 201, topped.text
    result: dict[str, Any] = await shown(client, headers, wallet["id"])
    return result


async def shown(client: httpx.AsyncClient, headers: dict[str, str], wallet_id: str) -> Any:
    response = await client.get(f"/v1/wallets/{wallet_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def entries(client: httpx.AsyncClient, headers: dict[str, str], wallet_id: str) -> Any:
    response = await client.get(f"/v1/wallets/{wallet_id}/transactions?limit=100", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def sandbox_headers(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    """Headers with a new ``cb_test_`` key of the same organization."""
    created = await client.post(
        "/v1/api-keys", json={"name": "sandbox", "environment": "test"}, headers=headers
    )
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    assert secret.startswith("cb_test_")
    return {"Authorization": f"Bearer {secret}"}


def stripe_settings(base: Settings, api_base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "stripe_api_key": LIVE_KEY,
        "stripe_test_api_key": SANDBOX_KEY,
        "stripe_api_base": api_base,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_test_webhook_secret": TEST_WEBHOOK_SECRET,
    }
    values.update(overrides)
    return make_settings(base.database_url, base.redis_url, **values)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def signed(payload: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Headers Stripe would send with ``payload``, signed by its own SDK's code."""
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}


def intent_event(
    event_type: str,
    intent_id: str,
    *,
    wallet_id: str,
    org_id: str,
    amount: int,
    livemode: bool = True,
    currency: str = "usd",
    metadata: dict[str, str] | None = None,
    error: dict[str, str] | None = None,
) -> str:
    intent: dict[str, Any] = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if event_type.endswith("succeeded") else 0,
        "currency": currency,
        "metadata": {"wallet_id": wallet_id, "org_id": org_id, **(metadata or {})},
    }
    if error:
        intent["last_payment_error"] = error
    return json.dumps(
        {
            "id": f"evt_{intent_id}_{event_type.rsplit('.', 1)[-1]}",
            "object": "event",
            "type": event_type,
            "livemode": livemode,
            "data": {"object": intent},
        }
    )
