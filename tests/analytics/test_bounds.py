"""Bounds an analytics request and a custom metric cannot pass, and folds that one
organization cannot stop for the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from commbase.analytics import rollup
from commbase.analytics.aggregates import place
from commbase.analytics.models import CustomMetric, MetricRollup
from commbase.analytics.registry import registered
from commbase.core.time import FrozenClock, use_clock
from tests.identity.factories import Tenant, make_tenant
from tests.tracking.factories import View, add_events, add_pageviews

NOW = datetime(2026, 6, 17, 10, 30, tzinfo=UTC)
TWO_YEARS = "from=2024-06-17T00:00:00Z&to=2026-06-17T00:00:00Z"
PROBLEM = "application/problem+json"


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


async def hundred_sources(app: FastAPI, tenant: Tenant) -> None:
    """Pageviews over two years from 100 UTM sources: src000-src089 one each, src090
    two ... src099 eleven (155 in all)."""
    views = []
    for number in range(100):
        repeat = 1 if number < 90 else number - 88
        views += [
            View(NOW - timedelta(days=(number * 7 + k) % 700 + 1), f"src{number:03d}")
            for k in range(repeat)
        ]
    await add_pageviews(app, tenant.org_id, views)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------ series size


async def test_an_hourly_series_of_a_hundred_groups_over_two_years_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await hundred_sources(app, tenant)
    query = f"metrics=pageviews.total&interval=hour&group_by=utm_source&{TWO_YEARS}"
    for path in ("/v1/analytics/series", "/v1/analytics/series.csv"):
        response = await client.get(f"{path}?{query}", headers=tenant.headers)
        problem = assert_problem(response, 422)
        # 10 groups + "other", 730 days of hours: what was asked, and the limit.
        assert problem["asked"] == 11 * 730 * 24
        assert problem["limit"] == 100_000
        assert "100000" in problem["detail"]
        assert problem["errors"][0]["field"] == "group_limit"
    too_many = await client.get(
        f"/v1/analytics/series?{query.replace('hour', 'day')}&group_limit=101",
        headers=tenant.headers,
    )
    assert_problem(too_many, 422)
    # Six metrics by the hour over two years, ungrouped, are refused the same way.
    six = "pageviews.total,visits.total,visitors.new,events.total,lab.experiments,calls.total"
    ungrouped = await client.get(
        f"/v1/analytics/series?metrics={six}&interval=hour&{TWO_YEARS}", headers=tenant.headers
    )
    problem = assert_problem(ungrouped, 422)
    assert (problem["asked"], problem["errors"][0]["field"]) == (6 * 730 * 24, "interval")
    two = await client.get(
        f"/v1/analytics/series?metrics={six.rsplit(',', 4)[0]}&interval=hour&{TWO_YEARS}",
        headers=tenant.headers,
    )
    assert two.status_code == 200, two.text  # 35,040 values
    assert sum(len(e["points"]) for e in two.json()["series"]) == 2 * 730 * 24


async def test_a_grouped_series_keeps_the_top_groups_and_adds_up_the_rest(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await hundred_sources(app, tenant)
    url = (
        "/v1/analytics/series?metrics=pageviews.total,pageviews.visitors"
        f"&interval=day&group_by=utm_source&{TWO_YEARS}"
    )

    before = await client.get(url, headers=tenant.headers)
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))
    after = await client.get(url, headers=tenant.headers)

    assert before.status_code == 200, before.text
    assert after.json()["series"] == before.json()["series"]
    body = after.json()
    assert body["group_limit"] == 10
    views = [e for e in body["series"] if e["metric"] == "pageviews.total"]
    assert [(e["group"], e["other"], e["total"]) for e in views] == [
        *((f"src{n:03d}", False, n - 88) for n in range(99, 89, -1)),
        (None, True, 90),  # src000-src089, one pageview each
    ]
    assert all(len(e["points"]) == 730 for e in body["series"])
    # Distinct visitors of the other bucket are counted once, not once per source.
    visitors = [e for e in body["series"] if e["metric"] == "pageviews.visitors"]
    assert [e["total"] for e in visitors] == [1] * 11
    assert len(after.content) < 1_000_000

    fewer = await client.get(f"{url}&group_limit=2", headers=tenant.headers)
    assert [(e["group"], e["total"]) for e in fewer.json()["series"][:3]] == [
        ("src099", 11),
        ("src098", 10),
        (None, 155 - 21),
    ]
    exported = await client.get(
        f"/v1/analytics/series.csv?metrics=pageviews.total&interval=year&group_by=utm_source"
        f"&group_limit=1&{TWO_YEARS}",
        headers=tenant.headers,
    )
    assert exported.status_code == 200, exported.text
    groups = {line.split(",")[1] for line in exported.text.splitlines()[1:]}
    assert groups == {"src099", "(other)"}


# ------------------------------------------------------------------ custom metric bounds


async def define(
    client: httpx.AsyncClient, tenant: Tenant, name: str, **body: Any
) -> httpx.Response:
    payload = {"name": name, "event_type": "order.paid", **body}
    return await client.post("/v1/analytics/metrics", json=payload, headers=tenant.headers)


@pytest.mark.parametrize(
    "filter_",
    [
        {"field": "data.plan", "op": "in", "value": [f"p{n}" for n in range(40_000)]},
        {"field": "data.plan", "op": "in", "value": [f"p{n}" for n in range(101)]},
        {"field": "data.amount", "op": "gt", "value": 1e308},
        {"field": "data.amount", "op": "lt", "value": -(2**53) - 2},
        {"field": "data.plan", "op": "eq", "value": "x" * 201},
        {"field": "data.plan", "op": "in", "value": ["x" * 201]},
    ],
    ids=["in-40000", "in-101", "1e308", "below-2^53", "text-201", "in-text-201"],
)
async def test_a_custom_metric_past_the_bounds_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, filter_: dict[str, Any]
) -> None:
    tenant = await make_tenant(app)
    created = await define(client, tenant, "big", filters=[filter_])
    assert_problem(created, 422)
    fine = await define(client, tenant, "fine")
    changed = await client.patch(
        "/v1/analytics/metrics/custom.fine", json={"filters": [filter_]}, headers=tenant.headers
    )
    assert_problem(changed, 422)
    async with app.state.db.sessionmaker() as session:
        stored = list(await session.scalars(select(CustomMetric.filters)))
    assert fine.status_code == 201
    assert stored == [[]]


async def test_an_organization_has_at_most_fifty_custom_metrics(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    for number in range(50):
        assert (await define(client, tenant, f"m{number}")).status_code == 201
    refused = assert_problem(await define(client, tenant, "m50"), 422)
    assert refused["limit"] == 50
    other = await make_tenant(app)
    assert (await define(client, other, "m50")).status_code == 201


async def test_a_sum_reads_only_numbers_whatever_else_an_event_holds(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """On PostgreSQL a cast of "lots" used to fail every query of the metric and the fold."""
    tenant = await make_tenant(app)
    amounts: list[Any] = [250, "lots", 5.5, True, None, {"n": 1}, "12"]
    await add_events(
        app,
        tenant.org_id,
        at=NOW - timedelta(hours=3),
        events=[{"type": "order.paid", "data": {"amount": a}} for a in amounts],
    )
    assert (await define(client, tenant, "paid", aggregate="sum", field="data.amount")).is_success
    url = "/v1/analytics/series?metrics=custom.paid&from=2026-06-01T00:00:00Z"

    before = await client.get(url, headers=tenant.headers)
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))
    after = await client.get(url, headers=tenant.headers)

    assert before.status_code == 200, before.text
    assert before.json()["series"][0]["total"] == after.json()["series"][0]["total"] == 255.5
    listed = await client.get("/v1/analytics/metrics", headers=tenant.headers)
    [mine] = [m for m in listed.json()["data"] if m["name"] == "custom.paid"]
    assert (mine["rolled_up"], mine["rollup_error"]) == (True, None)


# ------------------------------------------------------------------ isolated folds


async def rollup_rows(app: FastAPI, org_id: str, metric: str | None = None) -> int:
    async with app.state.db.sessionmaker() as session:
        query = select(func.count()).select_from(MetricRollup).where(MetricRollup.org_id == org_id)
        if metric is not None:
            # A declared metric is stored in its source's pack, a custom one alone.
            declared = registered().get(metric)
            query = query.where(MetricRollup.metric == (place(declared)[0] if declared else metric))
        return int(await session.scalar(query) or 0)


async def test_a_stored_definition_past_the_bounds_stops_only_itself(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """A definition written before the bounds (40,000 values) is reported, not run."""
    a, b = await make_tenant(app), await make_tenant(app)
    for tenant in (a, b):
        await add_events(
            app,
            tenant.org_id,
            at=NOW - timedelta(hours=2),
            events=[{"type": "order.paid", "data": {"plan": "pro", "amount": 7}}] * 3,
        )
        assert (await define(client, tenant, "orders")).status_code == 201
    async with app.state.db.sessionmaker() as session:
        session.add(
            CustomMetric(
                org_id=a.org_id,
                name="huge",
                event_type="order.paid",
                aggregate="count",
                filters=[
                    {"field": "data.plan", "op": "in", "value": [str(n) for n in range(40_000)]}
                ],
            )
        )
        await session.commit()

    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))

    for tenant in (a, b):
        assert await rollup_rows(app, tenant.org_id, "custom.orders") > 0
        good = await client.get(
            "/v1/analytics/series?metrics=custom.orders&from=2026-06-01T00:00:00Z",
            headers=tenant.headers,
        )
        assert good.json()["series"][0]["total"] == 3
    huge = await client.get(
        "/v1/analytics/series?metrics=custom.huge&from=2026-06-01T00:00:00Z", headers=a.headers
    )
    assert "at most 100" in assert_problem(huge, 409)["detail"]
    health = (await client.get("/v1/analytics/health", headers=a.headers)).json()
    [failed] = health["failed_metrics"]
    assert failed["name"] == "custom.huge"
    assert "at most 100" in failed["error"]
    assert (await client.get("/v1/analytics/health", headers=b.headers)).json()[
        "failed_metrics"
    ] == []
    listed = (await client.get("/v1/analytics/metrics", headers=a.headers)).json()["data"]
    [shown] = [m for m in listed if m["name"] == "custom.huge"]
    assert (shown["rolled_up"], shown["rollup_failed_at"]) == (False, "2026-06-17T10:30:00Z")
    # Mended through the API, it folds again.
    mended = await client.patch(
        "/v1/analytics/metrics/huge",
        json={"filters": [{"field": "data.plan", "op": "in", "value": ["pro"]}]},
        headers=a.headers,
    )
    assert mended.status_code == 200, mended.text
    await rollup.fold(app.state.db, now=NOW + timedelta(minutes=1), lag=timedelta(0))
    assert await rollup_rows(app, a.org_id, "custom.huge") > 0
    health = (await client.get("/v1/analytics/health", headers=a.headers)).json()
    assert health["failed_metrics"] == []


async def test_a_fold_that_fails_for_one_organization_folds_the_others(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    for tenant in (a, b):
        await add_events(
            app,
            tenant.org_id,
            at=NOW - timedelta(hours=2),
            events=[{"type": "order.paid", "data": {"amount": 5}}] * 4,
        )
        assert (
            await define(client, tenant, "paid", aggregate="sum", field="data.amount")
        ).is_success
    fold_range = rollup._fold_range

    async def failing_for_a(session: Any, org_id: str, *args: Any) -> int:
        if org_id == a.org_id:
            # PostgreSQL refuses this statement, which would end the transaction
            # without a savepoint; SQLite answers NULL.
            await session.execute(text("SELECT 1 / 0"))
            raise RuntimeError("folding this organization failed")
        return await fold_range(session, org_id, *args)

    monkeypatch.setattr(rollup, "_fold_range", failing_for_a)
    with pytest.raises(rollup.FoldIncomplete) as failed:
        await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))

    assert a.org_id in str(failed.value)
    assert b.org_id not in str(failed.value)
    assert await rollup_rows(app, a.org_id) == 0
    assert await rollup_rows(app, b.org_id, "events.total") > 0
    url = "/v1/analytics/series?metrics=events.total,custom.paid&from=2026-06-01T00:00:00Z"
    for tenant in (a, b):  # exact either way: A's hours are read from the raw events
        series = (await client.get(url, headers=tenant.headers)).json()["series"]
        assert [e["total"] for e in series] == [4, 20]
    listed = (await client.get("/v1/analytics/metrics", headers=b.headers)).json()["data"]
    assert [m["rolled_up"] for m in listed if m["name"] == "custom.paid"] == [True]

    monkeypatch.setattr(rollup, "_fold_range", fold_range)
    await rollup.fold(app.state.db, now=NOW + timedelta(minutes=1), lag=timedelta(0))
    assert await rollup_rows(app, a.org_id, "events.total") > 0
    series = (await client.get(url, headers=a.headers)).json()["series"]
    assert [e["total"] for e in series] == [4, 20]


async def test_a_custom_metric_whose_fold_fails_is_recorded_and_read_raw(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(app)
    await add_events(
        app, tenant.org_id, at=NOW - timedelta(hours=2), events=[{"type": "order.paid"}] * 2
    )
    for name in ("broken", "fine"):
        assert (await define(client, tenant, name)).status_code == 201
    fold_range = rollup._fold_range

    async def failing_for_broken(session: Any, org_id: str, metrics: Any, *args: Any) -> int:
        if [m.name for m in metrics] == ["custom.broken"]:
            raise RuntimeError("this metric cannot be folded")
        return await fold_range(session, org_id, metrics, *args)

    monkeypatch.setattr(rollup, "_fold_range", failing_for_broken)
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))

    listed = (await client.get("/v1/analytics/metrics", headers=tenant.headers)).json()["data"]
    mine = {m["name"]: m for m in listed if m["custom"]}
    assert mine["custom.fine"]["rolled_up"] is True
    assert mine["custom.broken"]["rolled_up"] is False
    assert mine["custom.broken"]["rollup_error"] == "RuntimeError: this metric cannot be folded"
    series = await client.get(
        "/v1/analytics/series?metrics=custom.broken,custom.fine&from=2026-06-01T00:00:00Z",
        headers=tenant.headers,
    )
    assert [e["total"] for e in series.json()["series"]] == [2, 2]
