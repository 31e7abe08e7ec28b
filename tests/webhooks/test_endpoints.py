"""Webhook endpoints: validation, SSRF refusal at creation and at delivery, scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.settings import Settings
from commbase.webhooks.dispatcher import Dispatcher
from tests.conftest import client_for, make_settings
from tests.identity.factories import auth, create_key, make_tenant
from tests.webhooks.receiver import Receiver


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The production default: webhook URLs must be public."""
    strict = make_settings(settings.database_url, settings.redis_url)
    application = create_app(strict)
    async with LifespanManager(application):
        yield application


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://172.16.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://metadata.google.internal/computeMetadata",
        "http://printer.local/hook",
        "ftp://93.184.216.34/hook",
        "https://user:pass@93.184.216.34/hook",
        "http://2130706433/hook",
    ],
)
async def test_internal_urls_are_refused(strict_app: FastAPI, url: str) -> None:
    tenant = await make_tenant(strict_app)
    async with client_for(strict_app) as client:
        response = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "url"
        listed = await client.get("/v1/webhooks", headers=tenant.headers)
        assert listed.json()["data"] == []


async def test_public_urls_are_accepted_and_validated(strict_app: FastAPI) -> None:
    tenant = await make_tenant(strict_app)
    async with client_for(strict_app) as client:
        ok = await client.post(
            "/v1/webhooks",
            json={
                "url": "https://93.184.216.34/hooks",
                "event_types": ["call.*", "wallet.low_balance"],
            },
            headers=tenant.headers,
        )
        assert ok.status_code == 201, ok.text
        assert ok.headers["cache-control"] == "no-store"
        assert ok.json()["retry_schedule"] == [60, 300, 900]
        for bad in (
            {"url": "https://93.184.216.34/h", "event_types": ["Call Completed"]},
            {"url": "https://93.184.216.34/h", "retry_schedule": [1] * 8},
            {"url": "https://93.184.216.34/h", "retry_schedule": [0]},
            {"url": "not a url at all"},
        ):
            response = await client.post("/v1/webhooks", json=bad, headers=tenant.headers)
            assert response.status_code == 422, bad
        moved = await client.patch(
            f"/v1/webhooks/{ok.json()['id']}",
            json={"url": "http://127.0.0.1/steal"},
            headers=tenant.headers,
        )
        assert moved.status_code == 422
        shown = await client.get(f"/v1/webhooks/{ok.json()['id']}", headers=tenant.headers)
        assert shown.json()["url"] == "https://93.184.216.34/hooks"


async def test_delivery_refuses_a_url_that_became_internal(
    app: FastAPI, strict_app: FastAPI, receiver: Receiver
) -> None:
    """Saved while private URLs were allowed; the strict dispatcher still refuses it."""
    tenant = await make_tenant(app)
    async with client_for(app) as client:
        created = await client.post(
            "/v1/webhooks", json={"url": receiver.url}, headers=tenant.headers
        )
        endpoint_id = created.json()["id"]
        await client.post(f"/v1/webhooks/{endpoint_id}/test", headers=tenant.headers)
        strict = Dispatcher(app.state.db, strict_app.state.settings, worker_id="strict")
        try:
            assert await strict.send_due() == 1
        finally:
            await strict.close()
        assert receiver.received == []
        [delivery] = (
            await client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=tenant.headers)
        ).json()["data"]
        assert delivery["status"] == "pending"
        assert "non-public" in delivery["last_error"]


async def test_webhooks_need_their_scope(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    narrow = await create_key(client, tenant.api_key, scopes=["calls:read"])
    response = await client.get("/v1/webhooks", headers=auth(str(narrow["key"])))
    assert response.status_code == 403
    types = await client.get("/v1/webhooks/event-types", headers=auth(str(narrow["key"])))
    assert types.status_code == 403
