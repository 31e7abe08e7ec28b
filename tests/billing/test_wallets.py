"""Wallets and the ledger: top-ups, adjustments, rates, limits, auto-recharge, concurrency,
Stripe webhooks for intents created outside commbase, and the revenue report."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import stripe
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from commbase.app import create_app
from commbase.billing import service as billing_service
from commbase.billing.models import Wallet
from commbase.core.errors import PaymentRequired
from commbase.core.pagination import PageParams
from commbase.core.time import FrozenClock, use_clock
from commbase.settings import Settings
from tests.calls.factories import ANSWERED_94S, LONG, fund_wallet, outbox_types, place, run_clock
from tests.conftest import client_for, make_settings
from tests.identity.factories import make_tenant

CZ_MOBILE = "+420601123456"
WEBHOOK_SECRET = "whsec_test_commbase"


async def test_topups_adjustments_and_ledger(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1500, minutes=120)
    assert (wallet["balance"], wallet["balance_minutes"]) == (1500, 120)
    take = await client.post(
        f"/v1/wallets/{wallet['id']}/adjustments",
        json={"amount": -500, "reason": "goodwill reversal"},
        headers=tenant.headers,
    )
    assert take.status_code == 201
    assert (take.json()["balance_before"], take.json()["balance_after"]) == (1500, 1000)
    too_much = await client.post(
        f"/v1/wallets/{wallet['id']}/adjustments",
        json={"amount": -5000, "reason": "oops"},
        headers=tenant.headers,
    )
    assert too_much.status_code == 402
    ledger = await client.get(f"/v1/wallets/{wallet['id']}/transactions", headers=tenant.headers)
    entries = ledger.json()["data"]
    assert [(e["type"], e["amount"]) for e in entries] == [("adjustment", 500), ("credit", 1500)]
    assert all(e["receipt_number"] for e in entries)
    duplicate = await client.post(
        "/v1/wallets", json={"owner_type": "organization"}, headers=tenant.headers
    )
    assert duplicate.status_code == 409


async def test_rates_by_destination(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    for body in (
        {"country": "CZ", "line_type": "mobile", "per_minute": "0.05"},
        {"country": "CZ", "per_minute": "0.03"},
        {"per_minute": "0.2"},
    ):
        response = await client.put("/v1/rates", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
    cz = (await place(client, tenant.headers, CZ_MOBILE, max_duration_s=600)).json()
    assert cz["rate_per_minute"] == "0.05"
    assert cz["to_line_type"] == "mobile"
    us = (await place(client, tenant.headers, ANSWERED_94S, max_duration_s=600)).json()
    assert us["rate_per_minute"] == "0.2"
    rates = (await client.get("/v1/rates", headers=tenant.headers)).json()
    assert len(rates["data"]) == 3
    assert rates["next_cursor"] is None
    held = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert held["held"] == 50 + 200  # 10 minutes at 5 and at 20 cents


async def test_daily_spend_limit_and_agent_max_spend(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    limited = await client.patch(
        f"/v1/users/{tenant.owner_id}",
        json={"limits": {"daily_spend_limit": 30}},
        headers=tenant.headers,
    )
    assert limited.status_code == 200, limited.text
    call = (await place(client, tenant.headers, LONG)).json()
    assert call["max_duration_seconds"] == 120  # 30 cents buys 2 minutes at 12.5

    agent = await client.post(
        "/v1/agent-sessions",
        json={
            "agent_context": {"agent_id": "bot"},
            "user_consent": {"calling_authorized": True, "max_spend_limit": 25},
        },
        headers=tenant.headers,
    )
    token = {"Authorization": f"Bearer {agent.json()['session_token']}"}
    await fund_wallet(
        client,
        tenant.headers,
        amount=1000,
        owner_type="agent_session",
        owner_id=agent.json()["id"],
    )
    agent_call = (await place(client, token, LONG)).json()
    assert agent_call["max_duration_seconds"] == 120
    assert agent_call["wallet_id"] != call["wallet_id"]


async def test_agent_needs_consent_and_respects_calls_per_hour(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    no_consent = await client.post(
        "/v1/agent-sessions", json={"agent_context": {"agent_id": "bot"}}, headers=tenant.headers
    )
    refused = await place(
        client, {"Authorization": f"Bearer {no_consent.json()['session_token']}"}, ANSWERED_94S
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/consent-required"

    agent = await client.post(
        "/v1/agent-sessions",
        json={
            "agent_context": {"agent_id": "bot"},
            "user_consent": {"calling_authorized": True, "privacy_mode": False},
            "rate_limits": {"calls_per_hour": 2, "max_call_duration": 300},
        },
        headers=tenant.headers,
    )
    token = {"Authorization": f"Bearer {agent.json()['session_token']}"}
    first = await place(client, token, ANSWERED_94S)
    assert first.status_code == 201, first.text
    assert first.json()["max_duration_seconds"] == 300
    assert first.json()["agent_session_id"] == agent.json()["id"]
    assert (await place(client, token, ANSWERED_94S)).status_code == 201
    third = await place(client, token, ANSWERED_94S)
    assert third.status_code == 429
    # The agent sees its own calls only; the owner sees all of them.
    mine = (await client.get("/v1/calls", headers=token)).json()["data"]
    assert len(mine) == 2
    own_wallets = (await client.get("/v1/wallets", headers=token)).json()["data"]
    assert own_wallets == []


async def test_auto_recharge_and_low_balance(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(clock):
        wallet = await fund_wallet(
            client,
            tenant.headers,
            amount=100,
            auto_recharge=True,
            auto_recharge_threshold=90,
            auto_recharge_amount=500,
        )
        call = (await place(client, tenant.headers, ANSWERED_94S)).json()
        await run_clock(app, clock, 110, step=5)
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert shown["balance"] == 100 - 25 + 500
    ledger = (
        await client.get(f"/v1/wallets/{wallet['id']}/transactions", headers=tenant.headers)
    ).json()["data"]
    # The charge and the recharge it triggered share a millisecond: compare as sets.
    assert sorted((e["category"], e["amount"], e["payment_method"]) for e in ledger) == [
        ("call_charge", 25, None),
        ("wallet_topup", 100, "admin"),
        ("wallet_topup", 500, "auto_recharge"),
    ]
    types = await outbox_types(app, tenant)
    assert types.count("wallet.low_balance") == 1
    assert types.count("wallet.recharged") == 1
    assert call["id"]


async def test_concurrent_debits_leave_the_exact_balance(app: FastAPI) -> None:
    """50 concurrent debits on one wallet; then more debits than the money allows."""
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        wallet = await billing_service.create_wallet(
            session,
            org_id=tenant.org_id,
            owner_type="organization",
            owner_id=tenant.org_id,
            currency="USD",
        )
        await billing_service.credit(
            session,
            wallet=wallet,
            amount=10_000,
            posting=billing_service.Posting(type="credit", category="wallet_topup"),
        )
        await session.commit()
        wallet_id = wallet.id

    async def debit(amount: int, key: str) -> bool:
        async with app.state.db.sessionmaker() as session:
            target = await billing_service.get_wallet(
                session, org_id=tenant.org_id, wallet_id=wallet_id
            )
            try:
                await billing_service.debit(
                    session,
                    wallet=target,
                    amount=amount,
                    posting=billing_service.Posting(
                        type="debit", category="call_charge", idempotency_key=key
                    ),
                )
            except PaymentRequired:
                await session.rollback()
                return False
            await session.commit()
            return True

    results = await asyncio.gather(*(debit(100, f"a{i}") for i in range(50)))
    assert all(results)
    async with app.state.db.sessionmaker() as session:
        current = await session.get(Wallet, wallet_id)
        assert current is not None
        balance = current.balance
    assert balance == 10_000 - 50 * 100

    # 5,000 left: 60 debits of 100 -> exactly 50 succeed and the balance ends at 0.
    overspend = await asyncio.gather(*(debit(100, f"b{i}") for i in range(60)))
    assert sum(overspend) == 50
    # A retried key changes nothing.
    assert await debit(100, "a0") is True
    async with app.state.db.sessionmaker() as session:
        final = await session.get(Wallet, wallet_id)
        assert final is not None
        assert (final.balance, final.held) == (0, 0)
        entries, _ = await billing_service.list_entries(
            session,
            org_id=tenant.org_id,
            params=PageParams(limit=100, after_id=None),
            type_="debit",
        )
    assert len(entries) == 100
    assert min(e.balance_after for e in entries) == 0


def _stripe_event(intent_id: str, *, wallet_id: str, org_id: str, amount: int) -> str:
    return json.dumps(
        {
            "id": f"evt_{intent_id}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "livemode": True,
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "currency": "usd",
                    "livemode": True,
                    "metadata": {
                        "wallet_id": wallet_id,
                        "org_id": org_id,
                        "minutes": "60",
                        "plan": "popular",
                    },
                }
            },
        }
    )


def _signed(payload: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}


@pytest.fixture
async def stripe_app(settings: Settings) -> AsyncIterator[FastAPI]:
    configured = make_settings(
        settings.database_url, settings.redis_url, stripe_webhook_secret=WEBHOOK_SECRET
    )
    application = create_app(configured)
    async with LifespanManager(application):
        yield application


async def test_stripe_webhook_credits_once_per_intent(stripe_app: FastAPI) -> None:
    tenant = await make_tenant(stripe_app)
    async with client_for(stripe_app) as client:
        wallet = await fund_wallet(client, tenant.headers, amount=0, provider="stripe")
        payload = _stripe_event("pi_123", wallet_id=wallet["id"], org_id=tenant.org_id, amount=1500)
        for _ in range(3):  # Stripe retries
            response = await client.post(
                "/v1/providers/stripe/webhook", content=payload, headers=_signed(payload)
            )
            assert response.status_code == 200, response.text
        shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
        assert (shown["balance"], shown["balance_minutes"]) == (1500, 60)
        [entry] = (
            await client.get(f"/v1/wallets/{wallet['id']}/transactions", headers=tenant.headers)
        ).json()["data"]
        assert (entry["payment_method"], entry["provider_transaction_id"], entry["plan"]) == (
            "stripe",
            "pi_123",
            "popular",
        )

        forged = await client.post(
            "/v1/providers/stripe/webhook",
            content=payload,
            headers=_signed(payload, secret="whsec_someone_else"),
        )
        assert forged.status_code == 400
        assert forged.headers["content-type"] == "application/problem+json"
        tampered = payload.replace("1500", "9999")
        replayed_signature = _signed(payload)
        bad = await client.post(
            "/v1/providers/stripe/webhook", content=tampered, headers=replayed_signature
        )
        assert bad.status_code == 400
        unsigned = await client.post("/v1/providers/stripe/webhook", content=payload)
        assert unsigned.status_code == 400
        shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
        assert shown["balance"] == 1500


async def test_revenue_report(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    with use_clock(FrozenClock(datetime(2026, 2, 5, 12, 0, tzinfo=UTC))):
        wallet = await fund_wallet(client, tenant.headers, amount=1500)
        await client.post(
            f"/v1/wallets/{wallet['id']}/topups", json={"amount": 500}, headers=tenant.headers
        )
    with use_clock(FrozenClock(datetime(2026, 2, 6, 23, 30, tzinfo=UTC))):
        await client.post(
            f"/v1/wallets/{wallet['id']}/topups", json={"amount": 1000}, headers=tenant.headers
        )
    report = await client.get("/v1/reports/revenue?month=2026-02", headers=tenant.headers)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["total_revenue"] == 3000
    assert body["transaction_count"] == 3
    assert body["days"] == [
        {
            "date": "2026-02-05",
            "total_revenue": 2000,
            "transaction_count": 2,
            "avg_transaction": 1000,
        },
        {
            "date": "2026-02-06",
            "total_revenue": 1000,
            "transaction_count": 1,
            "avg_transaction": 1000,
        },
    ]
    bad = await client.get("/v1/reports/revenue?month=2026-13", headers=tenant.headers)
    assert bad.status_code == 422


async def test_stripe_webhook_for_an_unknown_wallet_is_acknowledged_and_changes_nothing(
    stripe_app: FastAPI,
) -> None:
    tenant = await make_tenant(stripe_app)
    other = await make_tenant(stripe_app)
    async with client_for(stripe_app) as client:
        wallet = await fund_wallet(client, tenant.headers, amount=0, provider="stripe")
        # The wallet exists, but in another organization than the metadata names.
        payload = _stripe_event("pi_x", wallet_id=wallet["id"], org_id=other.org_id, amount=900)
        response = await client.post(
            "/v1/providers/stripe/webhook", content=payload, headers=_signed(payload)
        )
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored"
        shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
        assert shown["balance"] == 0
