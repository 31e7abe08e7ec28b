"""Webhook endpoints: validation, SSRF refusal at creation and at delivery, scopes."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from commbase.webhooks.dispatcher import Dispatcher
from tests.conftest import client_for
from tests.identity.factories import auth, create_key, make_tenant
from tests.webhooks.receiver import Receiver


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


async def test_unknown_event_types_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    url = "http://127.0.0.1:9/hooks"
    for patterns, named in (
        (["call.completed", "call.complete"], "'call.complete'"),
        (["nothing.*"], "'nothing.*'"),
        (["calls.*"], "'calls.*'"),
        (["Call Completed"], "event name"),
    ):
        response = await client.post(
            "/v1/webhooks", json={"url": url, "event_types": patterns}, headers=tenant.headers
        )
        assert response.status_code == 422, patterns
        [error] = response.json()["errors"]
        assert error["loc"][:2] == ["body", "event_types"]
        assert named in error["message"]
    ok = await client.post(
        "/v1/webhooks",
        json={"url": url, "event_types": ["*", "call.*", "contact.created", "webhook.*"]},
        headers=tenant.headers,
    )
    assert ok.status_code == 201, ok.text
    moved = await client.patch(
        f"/v1/webhooks/{ok.json()['id']}",
        json={"event_types": ["contact.created", "contact.exploded"]},
        headers=tenant.headers,
    )
    assert moved.status_code == 422
    assert "'contact.exploded'" in moved.json()["errors"][0]["message"]
    shown = await client.get(f"/v1/webhooks/{ok.json()['id']}", headers=tenant.headers)
    assert shown.json()["event_types"] == ["*", "call.*", "contact.created", "webhook.*"]


async def test_bad_input_answers_4xx_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    url = "http://127.0.0.1:9/hooks"
    created = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.headers)
    endpoint = created.json()
    base = f"/v1/webhooks/{endpoint['id']}"
    for body in (
        {"url": None},
        {"url": url, "event_types": None},
        {"url": url, "retry_schedule": None},
        {"url": url, "retry_schedule": [2**63]},
        {"url": url, "retry_schedule": [2**70]},
        {"url": url, "event_types": ["*"] * 101},
        {"url": url, "description": "x" * 501},
        {"url": "http://127.0.0.1:9/" + "a" * 4096},
        {"url": "http://[::1]:70000/hooks"},
        {"url": "http://[fe80::1%25lo]/hooks"},
        {"url": "http://user:pw@127.0.0.1/hooks"},
        {"url": "javascript:alert(1)"},
        {"url": 12345678},
        {"url": ["http://127.0.0.1/"]},
        {},
    ):
        response = await client.post("/v1/webhooks", json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    changes: tuple[dict[str, Any], ...] = (
        {"url": None},
        {"event_types": None},
        {"retry_schedule": None},
        {"status": None},
        {"status": "disabled"},
        {"url": "http://127.0.0.1:0/x"},
        {"retry_schedule": [-1]},
    )
    for body in changes:
        response = await client.patch(base, json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
    for grace in (-1, 2**63, 2**70, None, "soon"):
        response = await client.post(
            f"{base}/rotate-secret", json={"grace_period_s": grace}, headers=tenant.headers
        )
        assert response.status_code == 422, grace
    for path in (
        "/v1/webhooks?status=bogus",
        "/v1/webhooks?limit=100000000000000000000000",
        "/v1/webhooks?cursor=%00%ff",
        f"{base}/deliveries?status=bogus",
        f"/v1/webhooks/{'x' * 41}",
    ):
        response = await client.get(path, headers=tenant.headers)
        assert 400 <= response.status_code < 500, (path, response.text)
    assert (await client.get("/v1/webhooks/wh_missing", headers=tenant.headers)).status_code == 404
    shown = (await client.get(base, headers=tenant.headers)).json()
    assert {k: shown[k] for k in ("url", "event_types", "retry_schedule", "status")} == {
        "url": url,
        "event_types": ["*"],
        "retry_schedule": [60, 300, 900],
        "status": "active",
    }
    # Only the description may be cleared.
    cleared = await client.patch(base, json={"description": None}, headers=tenant.headers)
    assert (cleared.status_code, cleared.json()["description"]) == (200, None)


async def test_replay_needs_aware_datetimes_within_the_calendar(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks"}, headers=tenant.headers
    )
    replay = f"/v1/webhooks/{created.json()['id']}/replay"
    for body, field in (
        ({"since": "2026-11-27T00:00:00"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"since": "9999-12-31T23:59:59-14:00"}, "since"),
        ({"since": None}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-27T00:00:00Z", "until": "2026-11-28T00:00:00"}, "until"),
        ({"since": "2026-11-27T00:00:00Z", "until": "2026-11-26T00:00:00Z"}, "until"),
    ):
        response = await client.post(replay, json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["loc"][:2] == ["body", field], body
    ok = await client.post(
        replay,
        json={"since": "2026-11-27T02:00:00+02:00", "until": "9999-12-31T00:00:00Z"},
        headers=tenant.headers,
    )
    assert ok.status_code == 202, ok.text
    assert set(ok.json()) == {"queued"}
