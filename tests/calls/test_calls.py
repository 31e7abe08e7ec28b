"""Placing simulated calls end to end: lifecycle, billing, limits, actions, privacy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import (
    ANSWERED_94S,
    BUSY,
    FAILS,
    LONG,
    NO_ANSWER,
    fund_wallet,
    outbox_payloads,
    outbox_types,
    place,
    run_clock,
)
from tests.identity.factories import auth, create_key, make_tenant


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def test_a_call_runs_its_lifecycle_and_is_charged_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    placed = await place(
        client, tenant.headers, ANSWERED_94S, metadata={"purpose": "support", "tags": ["vip"]}
    )
    assert placed.status_code == 201, placed.text
    call = placed.json()
    assert call["status"] == "queued"
    assert call["to_number_formatted"] == "+1 415-555-1234"
    assert call["to_country"] == "US"
    assert call["rate_per_minute"] == "0.125"
    assert call["max_duration_seconds"] == 3600
    held = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (held["balance"], held["held"], held["available"]) == (1000, 750, 250)

    await run_clock(app, clock, 2)
    ringing = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert ringing["status"] == "ringing"
    await run_clock(app, clock, 100, step=5)

    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert done["status"] == "completed"
    assert done["end_reason"] == "callee_hangup"
    assert done["duration_seconds"] == 94
    assert done["billable_minutes"] == 2
    assert done["cost_amount"] == 25  # 2 min x 12.5 cents
    assert done["waiting_time_seconds"] == 5
    assert done["answered_at"] is not None
    assert done["ended_at"] is not None

    after = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (after["balance"], after["held"]) == (975, 0)
    ledger = await client.get(f"/v1/transactions?call_id={call['id']}", headers=tenant.headers)
    [charge] = ledger.json()["data"]
    assert (charge["type"], charge["category"], charge["amount"]) == ("debit", "call_charge", 25)
    assert (charge["balance_before"], charge["balance_after"]) == (1000, 975)
    assert done["ledger_entry_id"] == charge["id"]

    # Nothing moves a finished call or charges it again.
    await run_clock(app, clock, 60, step=30)
    again = await client.get(f"/v1/transactions?call_id={call['id']}", headers=tenant.headers)
    assert len(again.json()["data"]) == 1

    types = await outbox_types(app, tenant)
    lifecycle = [t for t in types if t.startswith("call.")]
    assert lifecycle == [
        "call.queued",
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.completed",
    ]
    assert types.count("wallet.debited") == 1
    [completed] = await outbox_payloads(app, tenant, "call.completed")
    assert completed["to"] == ANSWERED_94S
    assert completed["cost_amount"] == 25


@pytest.mark.parametrize(
    ("number", "status", "reason"),
    [(BUSY, "busy", "busy"), (NO_ANSWER, "no-answer", "no_answer"), (FAILS, "failed", "failed")],
)
async def test_unanswered_outcomes_cost_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    number: str,
    status: str,
    reason: str,
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    call = (await place(client, tenant.headers, number)).json()
    await run_clock(app, clock, 40, step=2)
    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert (done["status"], done["end_reason"]) == (status, reason)
    assert (done["duration_seconds"], done["billable_minutes"], done["cost_amount"]) == (0, 0, 0)
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (1000, 0)
    assert "call.failed" in await outbox_types(app, tenant)


async def test_the_wallet_caps_the_call_duration(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=50)  # 4 minutes at 12.5c
    call = (await place(client, tenant.headers, LONG)).json()
    assert call["max_duration_seconds"] == 240
    await run_clock(app, clock, 260, step=10)
    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert (done["status"], done["duration_seconds"], done["cost_amount"]) == (
        "completed",
        240,
        50,
    )
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (0, 0)


async def test_no_money_no_call(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    nothing = await place(client, tenant.headers, ANSWERED_94S)
    assert nothing.status_code == 402
    assert nothing.json()["type"] == "/problems/payment-required"
    await fund_wallet(client, tenant.headers, amount=12)  # under one minute
    short = await place(client, tenant.headers, ANSWERED_94S)
    assert short.status_code == 402
    listed = await client.get("/v1/calls", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_package_minutes_are_used_before_money(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=100, minutes=1)
    call = (await place(client, tenant.headers, ANSWERED_94S)).json()
    await run_clock(app, clock, 110, step=5)
    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert done["billable_minutes"] == 2
    assert done["cost_amount"] == 13  # one package minute + one paid minute (12.5 -> 13)
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["balance_minutes"], shown["held_minutes"]) == (87, 0, 0)


async def test_idempotent_placement(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    headers = {**tenant.headers, "Idempotency-Key": "place-1"}
    first = await client.post("/v1/calls", json={"to": ANSWERED_94S}, headers=headers)
    second = await client.post("/v1/calls", json={"to": ANSWERED_94S}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    other = await client.post("/v1/calls", json={"to": BUSY}, headers=headers)
    assert other.status_code == 422
    assert len((await client.get("/v1/calls", headers=tenant.headers)).json()["data"]) == 1


async def test_concurrent_call_limit_per_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=10_000)
    key = auth(str((await create_key(client, tenant.api_key, max_concurrent_calls=1))["key"]))
    assert (await place(client, key, ANSWERED_94S)).status_code == 201
    refused = await place(client, key, ANSWERED_94S)
    assert refused.status_code == 429
    assert refused.json()["type"] == "/problems/rate-limited"


async def test_actions_and_hangup(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call = (await place(client, tenant.headers, LONG)).json()
    await run_clock(app, clock, 6)
    path = f"/v1/calls/{call['id']}/actions"
    dtmf = await client.post(
        path, json={"action": "dtmf", "parameters": {"digits": "1234#"}}, headers=tenant.headers
    )
    assert dtmf.status_code == 201
    bad = await client.post(
        path, json={"action": "dtmf", "parameters": {"digits": "12ab"}}, headers=tenant.headers
    )
    assert bad.status_code == 422
    await client.post(path, json={"action": "hold"}, headers=tenant.headers)
    clock.advance(70)
    hangup = await client.post(path, json={"action": "hangup"}, headers=tenant.headers)
    assert hangup.status_code == 201
    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert (done["status"], done["end_reason"]) == ("completed", "caller_hangup")
    assert done["duration_seconds"] == 71
    assert done["cost_amount"] == 25
    history = (await client.get(path, headers=tenant.headers)).json()["data"]
    assert [a["action"] for a in history] == ["dtmf", "hold", "hangup"]
    assert history[0]["parameters"] == {"digits": "1234#"}
    late = await client.post(path, json={"action": "mute"}, headers=tenant.headers)
    assert late.status_code == 409


async def test_quality_review_analysis_and_counters(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call = (await place(client, tenant.headers, ANSWERED_94S, kind="video")).json()
    base = f"/v1/calls/{call['id']}"
    good = await client.post(
        f"{base}/quality",
        json={
            "mos_score": 4.2,
            "latency_ms": 85,
            "jitter_ms": 12,
            "packet_loss": 0.02,
            "codec": "OPUS",
            "video_resolution": "1280x720",
            "frame_rate": 30,
        },
        headers=tenant.headers,
    )
    assert good.json()["quality"] == "good"
    early_review = await client.post(f"{base}/review", json={"rating": 5}, headers=tenant.headers)
    assert early_review.status_code == 409
    poor = await client.post(f"{base}/quality", json={"mos_score": 2.8}, headers=tenant.headers)
    assert poor.json()["quality"] == "poor"
    assert "call.quality_degraded" in await outbox_types(app, tenant)
    await run_clock(app, clock, 110, step=5)

    review = await client.post(
        f"{base}/review",
        json={"rating": 4, "comment": "helpful", "problem_solved": True},
        headers=tenant.headers,
    )
    assert review.status_code == 200
    assert (review.json()["review_rating"], review.json()["problem_solved"]) == (4, True)
    twice = await client.post(f"{base}/review", json={"rating": 1}, headers=tenant.headers)
    assert twice.status_code == 409

    analysis = await client.patch(
        f"{base}/analysis",
        json={
            "intent": "booking",
            "sentiment": "positive",
            "keywords": ["price"],
            "entities": [{"type": "date", "value": "2026-12-24"}],
            "costs": {"tts": 7},
        },
        headers=tenant.headers,
    )
    body = analysis.json()
    assert body["analysis"]["intent"] == "booking"
    assert body["analysis"]["entities"] == [{"type": "date", "value": "2026-12-24"}]
    assert body["cost_breakdown"]["total_cost"] == 25 + 7

    user = (await client.get(f"/v1/users/{tenant.owner_id}", headers=tenant.headers)).json()
    assert (user["total_calls"], user["total_video_calls"], user["total_call_duration"]) == (
        1,
        1,
        94,
    )
    assert (user["review_count"], user["average_rating"]) == (1, 4.0)
    report = (await client.get("/v1/reports/call-quality", headers=tenant.headers)).json()
    assert report["total_calls"] == 1
    assert report["avg_mos"] == 2.8
    assert report["by_label"] == {"poor": 1}


async def test_privacy_mode_erases_the_call_but_keeps_the_money_record(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call = (await place(client, tenant.headers, ANSWERED_94S, privacy_mode=True)).json()
    assert call["caller_id_name"] == "Anonymous"
    await run_clock(app, clock, 110, step=5)
    assert (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).status_code == 404
    ledger = (await client.get("/v1/transactions?type=debit", headers=tenant.headers)).json()
    [charge] = ledger["data"]
    assert charge["amount"] == 25
    assert charge["related_call_id"].startswith("anon_")
    assert call["id"] not in str(await outbox_payloads(app, tenant, "wallet.debited"))
    for payload in await outbox_payloads(app, tenant, "call.completed"):
        assert "to" not in payload


async def test_contact_stats_follow_calls(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    contact = await client.post(
        "/v1/contacts", json={"name": "Jan", "phone": ANSWERED_94S}, headers=tenant.headers
    )
    assert contact.status_code == 201, contact.text
    call = (await place(client, tenant.headers, ANSWERED_94S)).json()
    assert call["contact_id"] == contact.json()["id"]
    await run_clock(app, clock, 110, step=5)
    shown = await client.get(f"/v1/contacts/{contact.json()['id']}", headers=tenant.headers)
    stats = shown.json()["stats"]
    assert (stats["total_calls"], stats["total_duration"]) == (1, 94)
    blocked = await client.patch(
        f"/v1/contacts/{contact.json()['id']}", json={"blocked": True}, headers=tenant.headers
    )
    assert blocked.status_code == 200
    refused = await place(client, tenant.headers, ANSWERED_94S)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/contact-blocked"


async def test_list_filters(app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=5000)
    vip = (await place(client, tenant.headers, ANSWERED_94S, metadata={"tags": ["vip"]})).json()
    busy = (await place(client, tenant.headers, BUSY)).json()
    await run_clock(app, clock, 10, step=2)

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/v1/calls?{query}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert await ids("tag=vip") == [vip["id"]]
    assert await ids("status=busy") == [busy["id"]]
    assert await ids("number=%2B14155550001") == [busy["id"]]
    assert set(await ids("")) == {vip["id"], busy["id"]}
    assert await ids("kind=video") == []
    bad = await client.get("/v1/calls?status=exploded", headers=tenant.headers)
    assert bad.status_code == 422


async def test_placements_at_once_stop_at_the_keys_limit_and_hold_only_for_theirs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Eight placements at once on one wallet with a key allowed 3 calls in progress:
    3 are placed, 5 refused with 429, and only the 3 placed hold money. Each counts
    the calls its predecessors on the wallet committed (on PostgreSQL the gate of the
    statement that stores the call counts once it holds the wallet's lock)."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=10_000)
    key = auth(str((await create_key(client, tenant.api_key, max_concurrent_calls=3))["key"]))
    answers = await asyncio.gather(*(place(client, key, ANSWERED_94S) for _ in range(8)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] * 3 + [429] * 5, [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 429):
        assert refused.json()["type"] == "/problems/rate-limited"
        assert "At most 3 calls" in refused.json()["detail"]
    listed = (await client.get("/v1/calls", headers=tenant.headers)).json()["data"]
    assert sorted(c["id"] for c in listed) == sorted(
        a.json()["id"] for a in answers if a.status_code == 201
    )

    # One call placed alone elsewhere: what a single placement holds.
    alone = await make_tenant(app)
    single = await fund_wallet(client, alone.headers, amount=10_000)
    assert (await place(client, alone.headers, ANSWERED_94S)).status_code == 201
    held_one = (await client.get(f"/v1/wallets/{single['id']}", headers=alone.headers)).json()
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert held_one["held"] > 0
    assert shown["held"] == 3 * held_one["held"]
    assert shown["balance"] == 10_000
