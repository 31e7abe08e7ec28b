"""Figures of the moment and of the forecast: calls in progress per agent, calls per
agent, live visitors, visit duration, API error rates and the MRR forecast -- on
SQLite and PostgreSQL, each checked against what was put in."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from commbase.analytics.models import ApiRequestCount
from commbase.billing.revenue.models import MrrMovement
from commbase.calls.models import Call
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.roles import Role
from commbase.privacy import retention
from commbase.privacy.registry import retention_kinds
from tests.identity.factories import Tenant, add_member, make_tenant

NOW = datetime(2026, 6, 17, 10, 30, tzinfo=UTC)
DAY = {"from": "2026-06-17T00:00:00Z", "to": "2026-06-18T00:00:00Z", "interval": "day"}


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


def _call(org_id: str, status: str, **values: Any) -> Call:
    at = values.pop("at", NOW - timedelta(minutes=3))
    return Call(
        org_id=org_id, provider="simulator", status=status, created_at=at, updated_at=at, **values
    )


async def _series(
    client: httpx.AsyncClient, tenant: Tenant, **params: str
) -> dict[tuple[str, str | None], Any]:
    answer = await client.get(
        "/v1/analytics/series", params={**DAY, "compare": "false", **params}, headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text
    return {
        (s["metric"], s.get("group")): s["total"] for s in answer.json()["series"]
    }  # fmt: skip


async def test_calls_in_progress_by_status_and_agent_stay_in_the_organization(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    alpha, bravo = await make_tenant(app), await make_tenant(app)
    agent, _ = await add_member(app, alpha, role=Role.AGENT)
    answered = NOW - timedelta(seconds=90)
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            [
                _call(alpha.org_id, "ringing", user_id=agent),
                _call(alpha.org_id, "in-progress", user_id=agent, answered_at=answered),
                _call(alpha.org_id, "queued", user_id=alpha.owner_id),
                _call(alpha.org_id, "initiated"),  # an API key's call: no member
                _call(alpha.org_id, "completed", user_id=agent),  # ended: not counted
                _call(bravo.org_id, "in-progress", user_id=bravo.owner_id),
            ]
        )
        await session.commit()
    answer = await client.get("/v1/analytics/calls-in-progress", headers=alpha.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["total"], body["queued"], body["ringing"], body["in_progress"]) == (4, 2, 1, 1)
    assert body["by_agent"] == [
        {"user_id": agent, "queued": 0, "ringing": 1, "in_progress": 1, "total": 2},
        {"user_id": None, "queued": 1, "ringing": 0, "in_progress": 0, "total": 1},
        {"user_id": alpha.owner_id, "queued": 1, "ringing": 0, "in_progress": 0, "total": 1},
    ]
    assert len(body["data"]) == 4
    talking = next(c for c in body["data"] if c["status"] == "in-progress")
    assert talking["seconds"] == 90  # since answered
    other = await client.get("/v1/analytics/calls-in-progress", headers=bravo.headers)
    assert other.json()["total"] == 1
    assert [a["user_id"] for a in other.json()["by_agent"]] == [bravo.owner_id]


async def test_calls_per_agent_count_answered_calls_and_talk_time(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    agent, _ = await add_member(app, tenant, role=Role.AGENT)
    at = NOW - timedelta(hours=1)
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            [
                _call(tenant.org_id, "completed", user_id=agent, at=at, answered_at=at,
                      duration_seconds=120),
                _call(tenant.org_id, "completed", user_id=agent, at=at, answered_at=at,
                      duration_seconds=30),
                _call(tenant.org_id, "no-answer", user_id=agent, at=at),
                _call(tenant.org_id, "completed", user_id=tenant.owner_id, at=at, answered_at=at,
                      duration_seconds=10),
            ]
        )  # fmt: skip
        await session.commit()
    totals = await _series(
        client, tenant, metrics="calls.total,calls.answered,calls.duration", group_by="user"
    )
    assert totals[("calls.total", agent)] == 3
    assert totals[("calls.answered", agent)] == 2
    assert totals[("calls.duration", agent)] == 150
    assert totals[("calls.answered", tenant.owner_id)] == 1
    assert totals[("calls.duration", tenant.owner_id)] == 10


async def test_live_visitors_and_visit_duration(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)

    async def view(visitor: str, path: str) -> None:
        body = {"url": f"https://acme.example{path}", "visitor_id": visitor}
        answer = await client.post("/v1/track/pageview", json=body, headers=tenant.headers)
        assert answer.status_code == 201, answer.text

    clock.advance(-3600)
    await view("early", "/")  # an hour ago: a bounce (0 s), not live
    clock.advance(3600 - 240)
    await view("v1", "/")  # four minutes ago ...
    clock.advance(90)
    await view("v1", "/pricing")  # ... and 90 s later: one visit of 90 s
    await view("v2", "/")
    clock.advance(150)
    live = await client.get("/v1/analytics/live-visitors", headers=tenant.headers)
    assert live.status_code == 200, live.text
    assert live.json()["visitors"] == 2
    assert live.json()["window_seconds"] == 300
    totals = await _series(
        client, tenant, metrics="visits.total,visits.duration,visits.duration_avg"
    )
    assert totals[("visits.total", None)] == 3
    assert totals[("visits.duration", None)] == 90
    assert totals[("visits.duration_avg", None)] == 30  # (0 + 90 + 0) / 3
    clock.advance(300)  # five minutes later nobody is live
    later = await client.get("/v1/analytics/live-visitors", headers=tenant.headers)
    assert later.json()["visitors"] == 0
    other = await make_tenant(app)
    assert (await client.get("/v1/analytics/live-visitors", headers=other.headers)).json()[
        "visitors"
    ] == 0


async def test_api_error_rates_count_each_final_status_without_a_write_per_request(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    counter = app.state.api_outcomes
    await counter.close()  # no background flush from here on: this test flushes
    for _ in range(3):
        assert (await client.get("/v1/calls", headers=tenant.headers)).status_code == 200
    assert (await client.get("/v1/calls/call_nope", headers=tenant.headers)).status_code == 404
    refused = await client.get("/v1/analytics/series", headers=tenant.headers)
    assert refused.status_code == 422
    assert (await client.get("/v1/calls", headers=other.headers)).status_code == 200
    assert counter.pending() == 6  # counted in memory, nothing written yet
    assert await counter.flush() == 4  # rows: (calls 2xx, calls 4xx, analytics 4xx) + other's
    assert counter.pending() == 0
    totals = await _series(
        client,
        tenant,
        metrics="api.requests,api.errors,api.client_errors,api.server_errors,api.error_rate",
    )
    assert totals[("api.requests", None)] == 5
    assert totals[("api.errors", None)] == 2
    assert totals[("api.client_errors", None)] == 2
    assert totals[("api.server_errors", None)] == 0
    assert totals[("api.error_rate", None)] == 40.0
    grouped = await _series(client, tenant, metrics="api.errors", group_by="route_group")
    assert grouped[("api.errors", "calls")] == 1
    assert grouped[("api.errors", "analytics")] == 1
    await counter.flush()
    assert (await _series(client, other, metrics="api.requests"))[("api.requests", None)] == 1


async def test_visit_duration_runs_to_the_last_pageview_or_visitor_update(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """As README and the metric say: a visitor update extends the visit (an engagement
    signal), a tracked event does not."""
    tenant = await make_tenant(app)
    body = {"url": "https://acme.example/", "visitor_id": "v1"}
    clock.advance(-600)
    viewed = await client.post("/v1/track/pageview", json=body, headers=tenant.headers)
    assert viewed.status_code == 201, viewed.text
    clock.advance(40)
    touched = await client.post(
        "/v1/track/visitor", json={"visitor_id": "v1"}, headers=tenant.headers
    )
    assert touched.status_code == 200, touched.text
    clock.advance(100)
    tracked = await client.post(
        "/v1/track/events",
        json=[{"type": "button.clicked", "visitor_id": "v1"}],
        headers=tenant.headers,
    )
    assert tracked.status_code in (200, 201, 202), tracked.text
    clock.advance(460)
    totals = await _series(client, tenant, metrics="visits.total,visits.duration")
    assert totals[("visits.total", None)] == 1
    assert totals[("visits.duration", None)] == 40


async def test_api_request_counts_are_kept_90_days_or_the_organizations_period(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Raw per-flush rows do not pile up: the retention kind deletes rows whose minute
    is past the period (90 days, or the organization's override)."""
    tenant, other = await make_tenant(app), await make_tenant(app)
    changed = await client.put(
        "/v1/privacy/retention",
        json={"overrides": {"api_request_counts": 30}},
        headers=other.headers,
    )
    assert changed.status_code == 200, changed.text

    def row(org_id: str, days_ago: int) -> ApiRequestCount:
        minute = (NOW - timedelta(days=days_ago)).replace(second=0, microsecond=0)
        return ApiRequestCount(
            org_id=org_id, minute=minute, route_group="calls", status_class="2xx", requests=1
        )

    ages_put = [(tenant.org_id, 91), (tenant.org_id, 89), (other.org_id, 31), (other.org_id, 29)]
    async with app.state.db.sessionmaker() as session:
        session.add_all(row(org, days) for org, days in ages_put)
        await session.commit()
    kind = retention_kinds()["api_request_counts"]
    assert (kind.default_days, kind.per_organization) == (90, True)
    assert await retention.purge_kind(app.state.db, kind, now=NOW) == 2
    async with app.state.db.sessionmaker() as session:
        left = (
            await session.execute(
                select(ApiRequestCount.org_id, ApiRequestCount.minute).order_by(
                    ApiRequestCount.org_id, ApiRequestCount.minute
                )
            )
        ).all()
    ages = sorted(
        (org == tenant.org_id, (NOW - minute.replace(tzinfo=UTC)).days) for org, minute in left
    )
    assert ages == [(False, 29), (True, 89)]


async def test_mrr_forecast_extrapolates_the_trailing_net_new_mrr(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)

    def moved(amount: int, days_ago: int, currency: str = "USD") -> MrrMovement:
        return MrrMovement(
            org_id=tenant.org_id, subscription_id="sub_x", customer_id="cus_x", plan_id="plan_x",
            kind="new" if amount > 0 else "contraction", currency=currency, amount=amount,
            mrr_before=0, mrr_after=0, active_delta=0, org_currency=currency == "USD",
            occurred_at=NOW - timedelta(days=days_ago),
        )  # fmt: skip

    async with app.state.db.sessionmaker() as session:
        session.add_all(
            [
                moved(10_000, 200),  # before the trailing 90 days: MRR 100.00 then
                moved(5_000, 80),
                moved(-1_000, 40),
                moved(2_000, 5),  # net new over 90 days: 6_000, 2_000 a month
                moved(900, 10, "EUR"),
            ]
        )
        await session.commit()
    answer = await client.get("/v1/billing/mrr-forecast", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["months"], body["trailing_months"]) == (3, 3)
    eur, usd = body["data"]
    assert (usd["currency"], usd["mrr"], usd["trailing_net_new_mrr"]) == ("USD", 16_000, 6_000)
    assert usd["monthly_net_new_mrr"] == 2_000
    assert [p["mrr"] for p in usd["history"]] == [10_000, 15_000, 14_000, 16_000]
    assert [p["mrr"] for p in usd["forecast"]] == [18_000, 20_000, 22_000]
    assert usd["forecast"][0]["at"] == "2026-07-17T10:30:00Z"
    assert (eur["mrr"], [p["mrr"] for p in eur["forecast"]]) == (900, [1_200, 1_500, 1_800])
    longer = await client.get(
        "/v1/billing/mrr-forecast?months=1&trailing_months=12", headers=tenant.headers
    )
    usd_12 = longer.json()["data"][1]
    assert usd_12["monthly_net_new_mrr"] == 1_333  # 16_000 / 12
    assert [p["mrr"] for p in usd_12["forecast"]] == [17_333]
    exported = await client.get("/v1/billing/mrr-forecast.csv", headers=tenant.headers)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["mrr"] for r in rows if r["currency"] == "USD" and r["kind"] == "forecast"] == [
        "18000",
        "20000",
        "22000",
    ]
    nothing = await client.get("/v1/billing/mrr-forecast", headers=other.headers)
    assert nothing.json()["data"] == []
    for bad in ("months=0", "months=25", "trailing_months=13", "months=x"):
        refused = await client.get(f"/v1/billing/mrr-forecast?{bad}", headers=tenant.headers)
        assert refused.status_code == 422, bad


async def test_mrr_forecast_rounds_a_half_minor_unit_up(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """5 minor units over 2 months is 2.5 a month: 3, not 2 (banker's rounding)."""
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            [
                MrrMovement(
                    org_id=tenant.org_id,
                    subscription_id="sub_x",
                    customer_id="cus_x",
                    plan_id="plan_x",
                    kind="new",
                    currency="USD",
                    amount=amount,
                    mrr_before=0,
                    mrr_after=0,
                    active_delta=0,
                    org_currency=True,
                    occurred_at=NOW - timedelta(days=days_ago),
                )
                for amount, days_ago in ((995, 200), (5, 10))
            ]
        )
        await session.commit()
    answer = await client.get(
        "/v1/billing/mrr-forecast?months=3&trailing_months=2", headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text
    (usd,) = answer.json()["data"]
    assert (usd["mrr"], usd["trailing_net_new_mrr"]) == (1_000, 5)
    assert usd["monthly_net_new_mrr"] == 3  # 2.5 half up
    assert [p["mrr"] for p in usd["forecast"]] == [1_003, 1_005, 1_008]  # 1002.5, 1005, 1007.5


async def test_realtime_computes_only_the_sections_asked_for(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        session.add(_call(tenant.org_id, "completed", duration_seconds=60))
        await session.commit()
    every = await client.get("/v1/analytics/realtime", headers=tenant.headers)
    assert {"calls", "revenue", "tracking"} <= set(every.json())
    some = await client.get(
        "/v1/analytics/realtime?sections=calls,conversations", headers=tenant.headers
    )
    assert some.status_code == 200, some.text
    body = some.json()
    assert set(body) == {"period", "generatedAt", "calls", "conversations"}
    assert body["calls"] == every.json()["calls"]
    assert body["calls"]["total"] == 1
    for bad in ("nope", "calls,nope", ",", ""):
        refused = await client.get(f"/v1/analytics/realtime?sections={bad}", headers=tenant.headers)
        assert refused.status_code == 422, bad
        assert "Unknown sections" in refused.json()["detail"], bad
