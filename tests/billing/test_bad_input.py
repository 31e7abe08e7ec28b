"""Bad input to billing routes answers a 4xx problem and changes nothing; top-ups
honour Idempotency-Key even when the stored response was lost."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from commbase.core.idempotency import IdempotencyKey
from tests.billing.factories import entries, open_wallet, shown
from tests.identity.factories import make_tenant


async def test_explicit_nulls_are_refused_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(
        client, tenant.headers, amount=100, low_balance_threshold=50, provider="stripe"
    )
    path = f"/v1/wallets/{wallet['id']}"
    for body in ({"status": None}, {"provider": None}, {"auto_recharge": None}):
        response = await client.patch(path, json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == next(iter(body))
    assert await shown(client, tenant.headers, wallet["id"]) == wallet
    # A null threshold clears it; leaving a field out keeps it.
    cleared = await client.patch(path, json={"low_balance_threshold": None}, headers=tenant.headers)
    assert cleared.status_code == 200
    assert (cleared.json()["low_balance_threshold"], cleared.json()["provider"]) == (None, "stripe")
    frozen = await client.patch(path, json={"status": "frozen"}, headers=tenant.headers)
    assert frozen.json()["status"] == "frozen"
    # Automatic recharge needs a threshold and an amount.
    incomplete = await client.patch(path, json={"auto_recharge": True}, headers=tenant.headers)
    assert incomplete.status_code == 422
    assert incomplete.json()["errors"][0]["field"] == "auto_recharge"
    assert (await shown(client, tenant.headers, wallet["id"]))["auto_recharge"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 0, "minutes": 0},
        {"amount": None},
        {"amount": 2**70},
        {"amount": 10**11},
        {"amount": 1.5},
        {"provider": "stripe", "amount": 0, "minutes": 30},
        {"amount": 100, "provider": "paypal"},
        {"amount": 100, "minutes": None},
    ],
)
async def test_top_ups_of_nothing_or_nonsense_are_refused(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers, amount=100)
    response = await client.post(
        f"/v1/wallets/{wallet['id']}/topups", json=body, headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await shown(client, tenant.headers, wallet["id"]) == wallet
    assert len(await entries(client, tenant.headers, wallet["id"])) == 1


async def test_package_minutes_alone_are_a_top_up(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers, minutes=30)
    assert (wallet["balance"], wallet["balance_minutes"]) == (0, 30)


async def test_a_top_up_key_gives_one_entry_even_when_the_stored_response_was_lost(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers)
    path = f"/v1/wallets/{wallet['id']}/topups"
    headers = {**tenant.headers, "Idempotency-Key": "topup-42"}
    first = await client.post(path, json={"amount": 700}, headers=headers)
    assert first.status_code == 201
    # The process died between the commit and the middleware's record.
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    again = await client.post(path, json={"amount": 700}, headers=headers)
    assert again.status_code == 201
    assert again.json()["transaction"]["id"] == first.json()["transaction"]["id"]
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey))
        await session.commit()
    other = await client.post(path, json={"amount": 900}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    # Another credential's identical key is its own.
    other_tenant = await make_tenant(app)
    elsewhere = await open_wallet(client, other_tenant.headers)
    mine = await client.post(
        f"/v1/wallets/{elsewhere['id']}/topups",
        json={"amount": 700},
        headers={**other_tenant.headers, "Idempotency-Key": "topup-42"},
    )
    assert mine.status_code == 201
    assert (await shown(client, tenant.headers, wallet["id"]))["balance"] == 700
    assert len(await entries(client, tenant.headers, wallet["id"])) == 1


@pytest.mark.parametrize(
    "month",
    ["0000-13", "0000-12", "0000-01", "9999-12", "2026-00", "2026-1", "abcd-ef", "2026-02x"],
)
async def test_revenue_months_out_of_range_are_a_422(
    app: FastAPI, client: httpx.AsyncClient, month: str
) -> None:
    tenant = await make_tenant(app)
    response = await client.get(f"/v1/reports/revenue?month={month}", headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "month"


async def test_revenue_at_the_calendars_usable_edges(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    for month in ("0001-02", "9999-11", "2026-02"):
        response = await client.get(f"/v1/reports/revenue?month={month}", headers=tenant.headers)
        assert response.status_code == 200, (month, response.text)
        assert response.json()["total_revenue"] == 0


async def test_revenue_never_adds_up_currencies(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    await open_wallet(client, tenant.headers, amount=1500)
    await open_wallet(
        client,
        tenant.headers,
        amount=800,
        currency="JPY",
        owner_type="user",
        owner_id=tenant.owner_id,
    )
    mixed = await client.get("/v1/reports/revenue", headers=tenant.headers)
    assert mixed.status_code == 422
    assert "JPY, USD" in mixed.json()["detail"]
    yen = await client.get("/v1/reports/revenue?currency=JPY", headers=tenant.headers)
    assert (yen.json()["currency"], yen.json()["total_revenue"]) == ("JPY", 800)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/transactions?type=bogus", None),
        ("GET", "/v1/transactions?status=settled", None),
        ("GET", "/v1/transactions?limit=0", None),
        ("GET", "/v1/wallets?owner_type=planet", None),
        ("GET", "/v1/rates?limit=100000", None),
        ("PUT", "/v1/rates", {"per_minute": "NaN"}),
        ("PUT", "/v1/rates", {"per_minute": "1e400"}),
        ("PUT", "/v1/rates", {"per_minute": None}),
        ("PUT", "/v1/rates", {"per_minute": "0.1", "country": "cz"}),
        ("POST", "/v1/wallets", {"low_balance_threshold": 2**64}),
        ("POST", "/v1/wallets", {"auto_recharge": True}),
        ("POST", "/v1/wallets", {"owner_type": "user"}),
        ("POST", "/v1/wallets", {"currency": None}),
    ],
)
async def test_bad_billing_input_is_a_422(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    tenant = await make_tenant(app)
    response = await client.request(method, path, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"] == []
    assert (await client.get("/v1/rates", headers=tenant.headers)).json()["data"] == []


async def test_bad_adjustments_and_refunds_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wallet = await open_wallet(client, tenant.headers, amount=100)
    [top_up] = await entries(client, tenant.headers, wallet["id"])
    for path, body in (
        (f"/v1/wallets/{wallet['id']}/adjustments", {"amount": 0, "reason": "nothing"}),
        (f"/v1/wallets/{wallet['id']}/adjustments", {"amount": 2**63, "reason": "x"}),
        (f"/v1/wallets/{wallet['id']}/adjustments", {"amount": -5, "reason": ""}),
        (f"/v1/transactions/{top_up['id']}/refunds", {"amount": -1}),
        (f"/v1/transactions/{top_up['id']}/refunds", {"amount": 0, "minutes": 0}),
        (f"/v1/transactions/{top_up['id']}/refunds", {"amount": 2**70}),
    ):
        response = await client.post(path, json=body, headers=tenant.headers)
        assert response.status_code == 422, (path, body, response.text)
    missing = await client.post(
        "/v1/transactions/txn_nothing/refunds", json={}, headers=tenant.headers
    )
    assert missing.status_code == 404
    assert await shown(client, tenant.headers, wallet["id"]) == wallet
