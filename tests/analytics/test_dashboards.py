"""The dashboards API over real calls, ledger entries and tracked events."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from commbase.analytics import rollup
from commbase.billing.models import LedgerEntry, Wallet
from commbase.calls.models import Call
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.models import Organization
from commbase.tracking.models import TrackedEvent
from tests.identity.factories import Tenant, make_tenant

NOW = datetime(2026, 6, 17, 10, 30, tzinfo=UTC)  # a Wednesday; 12:30 in Oslo


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


def _call(org_id: str, at: datetime, status: str = "completed", **values: Any) -> Call:
    defaults: dict[str, Any] = {
        "org_id": org_id,
        "provider": "simulator",
        "status": status,
        "to_country": "NO",
        "created_at": at,
        "updated_at": at,
    }
    if status == "completed":
        defaults.update(duration_seconds=60, cost_amount=13, billable_minutes=1)
    defaults.update(values)
    return Call(**defaults)


async def _world(app: FastAPI) -> Tenant:
    """Calls today, yesterday and 40 days ago; a top-up; tracked events."""
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Organization)
            .where(Organization.id == tenant.org_id)
            .values(timezone="Europe/Oslo")
        )
        today = NOW - timedelta(hours=2)  # 10:30 Oslo
        yesterday = NOW - timedelta(days=1)
        session.add_all(
            [
                _call(tenant.org_id, today, review_rating=5, mos_score=4.2, quality="good"),
                _call(tenant.org_id, today, duration_seconds=180, cost_amount=39, quality="fair"),
                _call(tenant.org_id, today, "failed", to_country="SE"),
                _call(tenant.org_id, today, user_id=tenant.owner_id, review_rating=3),
                _call(tenant.org_id, yesterday),
                _call(tenant.org_id, yesterday, "busy", to_country="SE"),
                _call(tenant.org_id, NOW - timedelta(days=40)),
            ]
        )
        wallet = Wallet(
            org_id=tenant.org_id, owner_type="organization", owner_id=tenant.org_id,
            currency="USD", balance=5000,
        )  # fmt: skip
        session.add(wallet)
        await session.flush()
        session.add(
            LedgerEntry(
                org_id=tenant.org_id, wallet_id=wallet.id, type="credit",
                category="wallet_topup", amount=5000, currency="USD", balance_before=0,
                balance_after=5000, created_at=today,
            )
        )  # fmt: skip
        session.add(
            TrackedEvent(
                org_id=tenant.org_id, event_id="e1", type="order.paid",
                data={"amount": 250, "plan": "pro"}, metadata_={}, occurred_at=today,
                received_at=NOW, expires_at=NOW + timedelta(days=90), account_id="acct_1",
            )
        )  # fmt: skip
        await session.commit()
    return tenant


async def test_realtime_counts_today_in_the_organization_time_zone(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    response = await client.get("/v1/analytics/realtime", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"]["start"] == "2026-06-16T22:00:00Z"  # Oslo midnight
    calls = body["calls"]
    assert calls["total"] == 4
    assert calls["completed"] == 3
    assert calls["failed"] == 1
    assert calls["successRate"] == 75.0
    assert calls["totalDuration"] == 300
    assert calls["avgDuration"] == 100
    assert calls["avgRating"] == 4
    assert body["revenue"]["topups"] == 5000
    assert body["tracking"]["events"] == 1
    assert body["messages"]["total"] == 0  # no messaging activity in this world


async def test_dashboard_compares_with_the_previous_period(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    response = await client.get("/v1/analytics/dashboard?days=1", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["current"]["calls"]["total"] == 4
    assert body["previous"]["calls"]["total"] == 2
    assert body["growth"]["calls"]["total"] == 100.0
    assert body["previous"]["calls"]["successRate"] == 50.0


async def test_series_is_the_same_before_and_after_the_rollup_job(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    url = (
        "/v1/analytics/series?metrics=calls.total,calls.success_rate,calls.duration_avg"
        "&interval=day&from=2026-06-10T00:00:00Z&to=2026-06-18T00:00:00Z"
    )
    before = await client.get(url, headers=tenant.headers)
    assert before.status_code == 200, before.text
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(seconds=0))
    after = await client.get(url, headers=tenant.headers)
    assert after.json()["series"] == before.json()["series"]
    total = after.json()["series"][0]
    assert total["metric"] == "calls.total"
    assert total["total"] == 6
    values = {p["start"]: p["value"] for p in total["points"]}
    assert values["2026-06-15T22:00:00Z"] == 2  # June 16 in Oslo
    assert values["2026-06-16T22:00:00Z"] == 4
    assert total["previous_total"] == 0
    assert total["growth"] == 100.0

    # A late fact for an already folded hour shows up at once.
    async with app.state.db.sessionmaker() as session:
        arrived = clock.advance(120)
        session.add(_call(tenant.org_id, NOW - timedelta(days=1, hours=3), updated_at=arrived))
        await session.commit()
    late = await client.get(url, headers=tenant.headers)
    assert late.json()["series"][0]["total"] == 7


async def test_series_group_by_and_filter(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    base = "/v1/analytics/series?metrics=calls.total&interval=month&from=2026-01-01T00:00:00Z"
    grouped = await client.get(base + "&group_by=country", headers=tenant.headers)
    assert grouped.status_code == 200, grouped.text
    totals = {e["group"]: e["total"] for e in grouped.json()["series"]}
    assert totals == {"NO": 5, "SE": 2}
    filtered = await client.get(base + "&filter=status:completed", headers=tenant.headers)
    assert filtered.json()["series"][0]["total"] == 5
    bad = await client.get(base + "&group_by=shoe_size", headers=tenant.headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("metrics=nope.metric", 404),
        ("metrics=calls.total&interval=fortnight", 422),
        ("metrics=calls.total&tz=Mars/Olympus", 422),
        ("metrics=calls.total&from=2026-06-10T00:00:00Z&to=2026-06-01T00:00:00Z", 422),
        ("metrics=calls.total&from=2026-06-10T00:00:00", 422),
        ("metrics=calls.total&interval=hour&from=2000-01-01T00:00:00Z", 422),
        ("metrics=" + ",".join(["calls.total"] * 2 + [f"x{i}" for i in range(25)]), 422),
        ("metrics=", 422),
    ],
)
async def test_series_rejects_bad_queries(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, query: str, status: int
) -> None:
    tenant = await make_tenant(app)
    response = await client.get(f"/v1/analytics/series?{query}", headers=tenant.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_repeats_come_from_the_cache_until_the_data_changes(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    url = "/v1/analytics/series?metrics=calls.total&interval=day&from=2026-06-01T00:00:00Z"

    async def hits() -> float:
        text = (await client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith("commbase_cache_requests_total") and 'result="hit"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    first = await client.get(url, headers=tenant.headers)
    before = await hits()
    second = await client.get(url, headers=tenant.headers)
    assert second.json() == first.json()
    assert await hits() > before
    async with app.state.db.sessionmaker() as session:
        session.add(_call(tenant.org_id, NOW - timedelta(hours=1), updated_at=clock.advance(1)))
        await session.commit()
    third = await client.get(url, headers=tenant.headers)
    assert third.json()["series"][0]["total"] == first.json()["series"][0]["total"] + 1


async def test_patterns_geography_quality_revenue(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    patterns = await client.get("/v1/analytics/patterns", headers=tenant.headers)
    assert patterns.status_code == 200, patterns.text
    body = patterns.json()
    assert len(body["hourlyDistribution"]) == 24
    assert len(body["dailyDistribution"]) == 7
    assert body["hourlyDistribution"][10] == 4  # 10:30 Oslo
    assert body["dailyDistribution"][2] == 4  # Wednesday
    assert sum(p["value"] for p in body["monthlyTrend"]) == 7

    geo = (await client.get("/v1/analytics/geography", headers=tenant.headers)).json()
    assert geo["topCountries"][0] == {"country": "NO", "calls": 4, "revenue": 13 + 39 + 13 + 13}

    quality = (await client.get("/v1/analytics/quality", headers=tenant.headers)).json()
    assert quality["metrics"]["calls.mos_avg"]["total"] == 4.2
    assert quality["distribution"]["good"] == 1

    revenue = await client.get("/v1/analytics/revenue?interval=month", headers=tenant.headers)
    assert revenue.status_code == 200, revenue.text
    assert revenue.json()["series"][0]["total"] == 5000
    assert (revenue.json()["mrr"], revenue.json()["arr"]) == (0, 0)  # no subscriptions


async def test_company_and_user_aggregates(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    company = (await client.get("/v1/analytics/company", headers=tenant.headers)).json()
    assert company["totalCalls"] == 7
    assert company["totalRevenue"] == 5000
    assert company["averageRating"] == 4
    user = await client.get(f"/v1/analytics/users/{tenant.owner_id}", headers=tenant.headers)
    assert user.status_code == 200
    assert user.json()["totalCalls"] == 1
    assert user.json()["averageRating"] == 3
    other = await make_tenant(app)
    hidden = await client.get(f"/v1/analytics/users/{other.owner_id}", headers=tenant.headers)
    assert hidden.status_code == 404


async def test_custom_metrics_are_queried_like_declared_ones(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    created = await client.post(
        "/v1/analytics/metrics",
        headers=tenant.headers,
        json={
            "name": "pro_revenue",
            "event_type": "order.paid",
            "aggregate": "sum",
            "field": "data.amount",
            "filters": [{"field": "data.plan", "op": "eq", "value": "pro"}],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "custom.pro_revenue"
    again = await client.post(
        "/v1/analytics/metrics",
        headers=tenant.headers,
        json={"name": "pro_revenue", "event_type": "order.paid"},
    )
    assert again.status_code == 409
    url = "/v1/analytics/series?metrics=custom.pro_revenue&from=2026-06-01T00:00:00Z"
    assert (await client.get(url, headers=tenant.headers)).json()["series"][0]["total"] == 250
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))
    assert (await client.get(url, headers=tenant.headers)).json()["series"][0]["total"] == 250
    listed = (await client.get("/v1/analytics/metrics", headers=tenant.headers)).json()["data"]
    mine = next(m for m in listed if m["name"] == "custom.pro_revenue")
    assert mine["rolled_up"] is True
    # Another organization does not see it.
    other = await make_tenant(app)
    assert (await client.get(url, headers=other.headers)).status_code == 404
    changed = await client.patch(
        "/v1/analytics/metrics/custom.pro_revenue",
        headers=tenant.headers,
        json={"filters": [{"field": "data.plan", "op": "eq", "value": "basic"}]},
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get(url, headers=tenant.headers)).json()["series"][0]["total"] == 0
    deleted = await client.delete("/v1/analytics/metrics/pro_revenue", headers=tenant.headers)
    assert deleted.status_code == 204
    assert (await client.get(url, headers=tenant.headers)).status_code == 404


async def test_snapshots_upsert_list_and_export(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await _world(app)
    body = {"type": "daily", "date": "2026-06-17"}
    first = await client.post("/v1/analytics/snapshots", headers=tenant.headers, json=body)
    assert first.status_code == 201, first.text
    snap = first.json()
    assert snap["metrics"]["calls"]["total"] == 4
    assert snap["period_start"] == "2026-06-16T22:00:00Z"
    assert set(snap["metrics"]) >= {
        "period",
        "calls",
        "revenue",
        "users",
        "tracking",
        "generatedAt",
    }
    clock.advance(60)
    second = await client.post("/v1/analytics/snapshots", headers=tenant.headers, json=body)
    assert second.json()["id"] == snap["id"]  # upserted, not duplicated
    per_account = await client.post(
        "/v1/analytics/snapshots",
        headers=tenant.headers,
        json={**body, "account_id": "acct_1"},
    )
    assert per_account.json()["metrics"]["tracking"]["events"] == 1
    assert "calls" not in per_account.json()["metrics"]  # calls have no channel account
    listed = await client.get("/v1/analytics/snapshots?type=daily", headers=tenant.headers)
    assert len(listed.json()["data"]) == 2
    exported = await client.get("/v1/analytics/snapshots.csv", headers=tenant.headers)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["calls.total"] for r in rows} == {"4", ""}
    series_csv = await client.get(
        "/v1/analytics/series.csv?metrics=calls.total&from=2026-06-15T00:00:00Z",
        headers=tenant.headers,
    )
    lines = list(csv.reader(io.StringIO(series_csv.text)))
    assert lines[0] == ["metric", "group", "start", "value"]
    assert sum(int(row[3]) for row in lines[1:]) == 6


async def test_scheduled_snapshots_follow_each_organization_time_zone(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    from commbase.analytics import snapshots
    from commbase.analytics.enums import SnapshotType

    tenant = await _world(app)
    database = app.state.db
    # 01:59 in Oslo: yesterday's daily snapshot is not due yet.
    oslo_0159 = datetime(2026, 6, 17, 23, 59, tzinfo=UTC)
    clock.set(oslo_0159)
    assert await snapshots.run_due(database.sessionmaker, SnapshotType.DAILY, oslo_0159) == 1
    # Run again at the same moment: already written since the fire time, nothing to do.
    assert await snapshots.run_due(database.sessionmaker, SnapshotType.DAILY, oslo_0159) == 0
    listed = await client.get("/v1/analytics/snapshots?type=daily", headers=tenant.headers)
    assert [s["date"] for s in listed.json()["data"]] == ["2026-06-16"]  # the day before
    clock.set(datetime(2026, 6, 18, 0, 1, tzinfo=UTC))  # 02:01 Oslo
    assert (
        await snapshots.run_due(database.sessionmaker, SnapshotType.DAILY, clock.now()) == 2
    )  # + acct_1
    dates = [
        s["date"]
        for s in (
            await client.get("/v1/analytics/snapshots?type=daily", headers=tenant.headers)
        ).json()["data"]
    ]
    assert "2026-06-17" in dates
    health = (await client.get("/v1/analytics/health", headers=tenant.headers)).json()
    assert health["healthy"] is True
    assert health["latest_snapshot"]["type"] == "daily"


async def test_reading_analytics_needs_the_scope(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    from tests.identity.factories import create_key, login

    tenant = await make_tenant(app)
    token = await login(client, tenant.owner_email)
    key = await create_key(client, token, name="calls only", scopes=["calls:read"])
    headers = {"Authorization": f"Bearer {key['key']}"}
    for path in ("/v1/analytics/realtime", "/v1/analytics/dashboard", "/v1/analytics/metrics"):
        assert (await client.get(path, headers=headers)).status_code == 403


async def test_backfill_command_rebuilds_a_range_with_a_progress_bar(
    app: FastAPI,
    client: httpx.AsyncClient,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from commbase.settings import get_settings
    from tests.core.conftest import invoke

    tenant = await _world(app)
    monkeypatch.setenv("COMMBASE_DATABASE_URL", database_url)
    monkeypatch.delenv("COMMBASE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = invoke(
            ["backfill", "--from", "2026-06-10", "--to", "2026-06-17", "--org", tenant.org_id]
        )
        bad = invoke(["backfill", "--from", "2026-06-10", "--to", "2026-06-01"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "9 snapshots written" in result.output  # 8 days + acct_1 on June 17
    assert bad.exit_code == 2
    listed = await client.get(
        "/v1/analytics/snapshots?type=daily&limit=100", headers=tenant.headers
    )
    by_date = {
        s["date"]: s["metrics"]["calls"]["total"]
        for s in listed.json()["data"]
        if s["account_id"] is None
    }
    assert by_date["2026-06-17"] == 4
    assert by_date["2026-06-16"] == 2
    assert len(by_date) == 8


async def test_deleted_facts_stop_counting_before_and_after_the_fold(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    ids = []
    for name in ("Ann", "Bob", "Cy"):
        created = await client.post("/v1/contacts", headers=tenant.headers, json={"name": name})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    # `to` past the hour of the facts: that hour is sealed, not cut by the range.
    url = (
        "/v1/analytics/series?metrics=contacts.new&interval=day"
        "&from=2026-06-01T00:00:00Z&to=2026-06-18T00:00:00Z"
    )

    async def total() -> int:
        response = await client.get(url, headers=tenant.headers)
        assert response.status_code == 200, response.text
        value: int = response.json()["series"][0]["total"]
        return value

    clock.advance(120)
    await rollup.fold(app.state.db, now=clock.now(), lag=timedelta(0))
    assert await total() == 3
    clock.advance(60)
    deleted = await client.delete(f"/v1/contacts/{ids[0]}", headers=tenant.headers)
    assert deleted.status_code == 204
    assert await total() == 2  # the folded hour is read from raw facts until refolded
    clock.advance(120)
    await rollup.fold(app.state.db, now=clock.now(), lag=timedelta(0))
    assert await total() == 2
