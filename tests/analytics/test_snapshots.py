"""Snapshots and dashboards at the edges: calendar limits, future periods, datetimes
without an offset, running totals, jobs one organization runs, long backfills."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.analytics import jobs as analytics_jobs
from commbase.analytics import sections, snapshots
from commbase.analytics.alerts.service import check_alerts_job
from commbase.analytics.models import Snapshot
from commbase.calls.models import Call
from commbase.core.jobs import JobContext
from commbase.core.time import FrozenClock, use_clock
from tests.identity.factories import Tenant, make_tenant
from tests.tracking.factories import add_events

NOW = datetime(2026, 6, 17, 10, 30, tzinfo=UTC)  # a Wednesday, in UTC organizations
PROBLEM = "application/problem+json"


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


async def snapshot_count(app: FastAPI, org_id: str | None = None) -> int:
    async with app.state.db.sessionmaker() as session:
        query = select(func.count()).select_from(Snapshot)
        if org_id is not None:
            query = query.where(Snapshot.org_id == org_id)
        return int(await session.scalar(query) or 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date": "0001-01-01"}, "date"),
        ({"type": "yearly", "date": "9999-12-31"}, "date"),
        ({"type": "monthly", "date": "1999-12-31"}, "date"),
        ({"date": "2026-06-18"}, "date"),  # tomorrow
        ({"type": "hourly", "date": "2026-06-17", "hour": 11}, "hour"),  # later today
        ({"type": "fortnightly"}, "type"),
    ],
)
async def test_snapshots_of_periods_out_of_range_or_ahead_are_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, body: dict[str, Any], field: str
) -> None:
    tenant = await make_tenant(app)
    response = await client.post("/v1/analytics/snapshots", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await snapshot_count(app) == 0
    this_hour = await client.post(
        "/v1/analytics/snapshots",
        json={"type": "hourly", "date": "2026-06-17", "hour": 10},
        headers=tenant.headers,
    )
    assert this_hour.status_code == 201, this_hour.text
    assert this_hour.json()["period_start"] == "2026-06-17T10:00:00Z"
    today = await client.post(
        "/v1/analytics/snapshots",
        json={"type": "daily", "date": "2026-06-17", "hour": 23},  # the hour is an hourly's
        headers=tenant.headers,
    )
    assert today.status_code == 201, today.text


@pytest.mark.parametrize(
    "query",
    [
        "/v1/analytics/series?metrics=calls.total&from=2026-06-01T00:00:00",
        "/v1/analytics/series?metrics=calls.total&to=2026-06-01T00:00:00",
        "/v1/analytics/series?metrics=calls.total&from=0001-01-01T00:00:00%2B01:00",
        "/v1/analytics/series?metrics=calls.total&to=9999-12-31T23:59:59-01:00",
        "/v1/analytics/series?metrics=calls.total&from=0001-01-01T00:00:00Z"
        "&to=0001-01-02T00:00:00Z",
        "/v1/analytics/series?metrics=calls.total&from=1969-12-31T00:00:00Z",
        "/v1/analytics/series.csv?metrics=calls.total&from=2026-06-01T00:00:00",
        "/v1/analytics/patterns?from=2026-06-01T00:00:00",
        "/v1/analytics/geography?to=2026-06-01T00:00:00",
        "/v1/analytics/quality?from=0001-01-01T00:00:00%2B05:00",
        "/v1/analytics/revenue?to=2026-06-01T00:00:00",
        "/v1/analytics/snapshots?from=2026-06-01T00:00:00",
        "/v1/analytics/snapshots.csv?to=2026-06-01T00:00:00",
        "/v1/analytics/series?metrics=calls.total&interval=fortnight",
        "/v1/analytics/snapshots?type=fortnightly",
    ],
)
async def test_datetimes_without_an_offset_or_past_the_calendar_are_422(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, query: str
) -> None:
    tenant = await make_tenant(app)
    response = await client.get(query, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["errors"][0]["loc"][0] == "query"


async def test_running_totals_grow_against_their_value_when_the_previous_period_ended(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)  # its owner joins today: users.total grows from 0
    for at, names in (
        (NOW - timedelta(days=5), ["Ann", "Bob", "Cy"]),
        # The previous period is as long as today's so far: 13:30 to midnight yesterday.
        (NOW - timedelta(hours=14), ["Di", "Ed"]),
        (NOW - timedelta(hours=2), ["Fay"]),
    ):
        clock.set(at)
        for name in names:
            created = await client.post("/v1/contacts", json={"name": name}, headers=tenant.headers)
            assert created.status_code == 201, created.text
    clock.set(NOW)

    response = await client.get("/v1/analytics/dashboard?days=1", headers=tenant.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    contacts = [body[part]["contacts"] for part in ("current", "previous", "growth")]
    assert [c["total"] for c in contacts] == [6, 5, 20.0]  # not 6 against 2 added
    assert [c["new"] for c in contacts] == [1, 2, -50.0]
    assert [body[part]["users"]["total"] for part in ("current", "previous", "growth")] == [
        1,
        0,
        100.0,
    ]


# ------------------------------------------------------------------ jobs


def job_context(app: FastAPI, *, org_id: str | None) -> JobContext:
    return JobContext(
        database=app.state.db, now=NOW, run_id="run_test", trigger="manual", org_id=org_id
    )


async def test_snapshot_jobs_run_by_one_organization_write_only_its_snapshots(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)

    assert await analytics_jobs.daily_snapshot(job_context(app, org_id=a.org_id)) == 1

    assert (await snapshot_count(app, a.org_id), await snapshot_count(app, b.org_id)) == (1, 0)
    assert await analytics_jobs.daily_snapshot(job_context(app, org_id=None)) == 2
    assert await snapshot_count(app, b.org_id) == 1


async def test_alert_checks_run_by_one_organization_check_only_its_alerts(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenants: list[Tenant] = [await make_tenant(app), await make_tenant(app)]
    alert_ids = []
    for tenant in tenants:
        async with app.state.db.sessionmaker() as session:
            session.add(
                Call(
                    org_id=tenant.org_id,
                    provider="simulator",
                    status="failed",
                    created_at=NOW - timedelta(minutes=5),
                )
            )
            await session.commit()
        created = await client.post(
            "/v1/analytics/alerts",
            json={"name": "fails", "metric": "calls.failed", "comparator": "gte", "threshold": 1},
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        alert_ids.append(created.json()["id"])

    assert await check_alerts_job(job_context(app, org_id=tenants[0].org_id)) == 1

    states = []
    for tenant, alert_id in zip(tenants, alert_ids, strict=True):
        shown = await client.get(f"/v1/analytics/alerts/{alert_id}", headers=tenant.headers)
        states.append((shown.json()["state"], shown.json()["last_checked_at"]))
    assert states == [("triggered", "2026-06-17T10:30:00Z"), ("ok", None)]


async def test_a_backfill_computes_without_holding_the_write_lock(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    stack: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a backfill computes, another process can take SQLite's write lock at once
    (a server waiting past its busy timeout answers "database is locked")."""
    tenant = await make_tenant(app)
    await add_events(
        app,
        tenant.org_id,
        at=NOW - timedelta(days=1),
        events=[{"type": "order.paid", "account_id": "acct_1"}] * 3,
    )
    compute = sections.compute
    probes: list[str] = []

    async def compute_and_probe(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if stack == "sqlite":
            path = database_url.removeprefix("sqlite+aiosqlite:///")
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                probes.append("free")
            except sqlite3.OperationalError as exc:
                probes.append(str(exc))
            finally:
                other.close()
        return await compute(*args, **kwargs)

    monkeypatch.setattr(sections, "compute", compute_and_probe)
    written = await snapshots.backfill(
        app.state.db.sessionmaker, "hourly", date(2026, 6, 15), date(2026, 6, 16)
    )

    assert written == 48 + 1  # two days of hours, and acct_1's hour
    assert await snapshot_count(app, tenant.org_id) == 49
    if stack == "sqlite":
        assert set(probes) == {"free"}
        assert len(probes) == 49
