"""Threshold alerts: the API, the check job and the events it records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.alerts import service as alerts
from commbase.analytics.alerts.models import Alert
from commbase.analytics.alerts.service import check_alerts
from commbase.calls.models import Call
from commbase.core.outbox import OutboxEvent
from commbase.core.time import FrozenClock, use_clock
from tests.identity.factories import Tenant, auth, create_key, make_tenant

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TRIGGERED, RESOLVED = "analytics.alert.triggered", "analytics.alert.resolved"
PROBLEM = "application/problem+json"
FAILURE_RATE = {
    "name": "Failure rate over 10%",
    "metric": "calls.failure_rate",
    "comparator": "gt",
    "threshold": 10,
    "window_minutes": 60,
    "min_count": 5,
}


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


async def add_calls(
    app: FastAPI,
    tenant: Tenant,
    *,
    at: datetime,
    failed: int = 0,
    completed: int = 0,
    country: str | None = None,
) -> None:
    """Finished calls placed at ``at``, written straight to the database."""
    statuses = ["no-answer"] * failed + ["completed"] * completed
    async with app.state.db.sessionmaker() as session:
        for status in statuses:
            session.add(
                Call(
                    org_id=tenant.org_id,
                    provider="simulator",
                    status=status,
                    to_country=country,
                    created_at=at,
                )
            )
        await session.commit()


async def create_alert(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/analytics/alerts", json={**FAILURE_RATE, **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    alert: dict[str, Any] = response.json()
    return alert


async def events_of(app: FastAPI, tenant: Tenant) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of the organization's alert events, oldest first."""
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(
                OutboxEvent.org_id == tenant.org_id,
                OutboxEvent.type.in_([TRIGGERED, RESOLVED]),
            )
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
        )
        return [(row.type, row.payload) for row in rows]


async def read_alert(client: httpx.AsyncClient, tenant: Tenant, alert_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/analytics/alerts/{alert_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    alert: dict[str, Any] = response.json()
    return alert


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        assert field in [e["field"] for e in response.json()["errors"]], response.text


# ------------------------------------------------------------------ the check


async def test_a_failure_rate_over_ten_percent_fires_once_then_resolves(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    # 2 of 10 calls in the last hour failed (20%); older failures are outside the window.
    await add_calls(app, tenant, at=NOW - minutes(10), failed=2, completed=8)
    await add_calls(app, tenant, at=NOW - minutes(90), failed=30)
    alert = await create_alert(client, tenant)
    assert alert["state"] == "ok"

    assert await check_alerts(app.state.db, now=NOW) == 1

    [(kind, payload)] = await events_of(app, tenant)
    assert kind == TRIGGERED
    assert payload == {
        "id": alert["id"],
        "name": "Failure rate over 10%",
        "metric": "calls.failure_rate",
        "comparator": "gt",
        "threshold": 10.0,
        "value": 20.0,
        "count": 10,
        "window_minutes": 60,
        "window_start": (NOW - minutes(60)).isoformat().replace("+00:00", "Z"),
        "window_end": NOW.isoformat().replace("+00:00", "Z"),
        "account_id": None,
        "dimension": None,
        "dimension_value": None,
    }
    shown = await read_alert(client, tenant, alert["id"])
    assert shown["state"] == "triggered"
    assert shown["last_value"] == 20.0
    assert shown["last_triggered_at"] is not None

    # Still over the threshold a few minutes later, within the cooldown: no new event.
    await check_alerts(app.state.db, now=NOW + minutes(5))
    assert len(await events_of(app, tenant)) == 1

    # Enough good calls bring it to 2 / 50 = 4%: it resolves, once.
    await add_calls(app, tenant, at=NOW + minutes(6), completed=40)
    await check_alerts(app.state.db, now=NOW + minutes(7))
    await check_alerts(app.state.db, now=NOW + minutes(8))
    kinds = [(k, p["value"]) for k, p in await events_of(app, tenant)]
    assert kinds == [(TRIGGERED, 20.0), (RESOLVED, 4.0)]
    shown = await read_alert(client, tenant, alert["id"])
    assert shown["state"] == "ok"
    assert shown["last_value"] == 4.0


async def test_a_condition_that_holds_fires_again_after_the_cooldown(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    await add_calls(app, tenant, at=NOW - minutes(1), failed=5, completed=5)
    await create_alert(client, tenant, cooldown_minutes=10, window_minutes=120)

    for offset in (0, 5, 9, 10, 15, 20):
        await check_alerts(app.state.db, now=NOW + minutes(offset))

    fired = [p["window_end"] for k, p in await events_of(app, tenant) if k == TRIGGERED]
    assert fired == [(NOW + minutes(m)).isoformat().replace("+00:00", "Z") for m in (0, 10, 20)]


async def test_min_count_keeps_one_failed_call_from_firing(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await add_calls(app, tenant, at=NOW - minutes(3), failed=1)
    careful = await create_alert(client, tenant, name="careful", min_count=5)
    eager = await create_alert(client, tenant, name="eager", min_count=0)

    tried = await client.post(f"/v1/analytics/alerts/{careful['id']}/test", headers=tenant.headers)
    assert tried.status_code == 200, tried.text
    assert tried.json() | {"window_start": None, "window_end": None} == {
        "value": 100.0,
        "count": 1,
        "condition_met": False,
        "would_fire": False,
        "window_start": None,
        "window_end": None,
    }

    await check_alerts(app.state.db, now=NOW)
    assert [p["name"] for _, p in await events_of(app, tenant)] == ["eager"]
    assert (await read_alert(client, tenant, careful["id"]))["state"] == "ok"
    assert (await read_alert(client, tenant, eager["id"]))["state"] == "triggered"

    # Four more failures make five calls: now the careful alert fires too.
    await add_calls(app, tenant, at=NOW - minutes(2), failed=4)
    await check_alerts(app.state.db, now=NOW + minutes(1))
    names = [p["name"] for _, p in await events_of(app, tenant)]
    assert names == ["eager", "careful"]


async def test_no_calls_is_no_failure_rate_and_never_fires(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    below = await create_alert(
        client,
        tenant,
        name="success under 50",
        metric="calls.success_rate",
        comparator="lt",
        threshold=50,
        min_count=0,
    )
    quiet = await create_alert(
        client,
        tenant,
        name="no calls",
        metric="calls.total",
        comparator="lt",
        threshold=1,
        min_count=0,
    )

    await check_alerts(app.state.db, now=NOW)

    # A ratio over nothing is undefined; a count of nothing is 0, which is below 1.
    assert [p["name"] for _, p in await events_of(app, tenant)] == ["no calls"]
    assert (await read_alert(client, tenant, below["id"]))["last_value"] is None
    assert (await read_alert(client, tenant, quiet["id"]))["last_value"] == 0


async def test_an_alert_on_one_dimension_value_reads_only_those_calls(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await add_calls(app, tenant, at=NOW - minutes(5), failed=3, completed=3, country="GB")
    await add_calls(app, tenant, at=NOW - minutes(5), completed=40, country="US")
    gb = await create_alert(client, tenant, dimension="country", dimension_value="GB")
    overall = await create_alert(client, tenant, name="overall")

    tried = await client.post(f"/v1/analytics/alerts/{gb['id']}/test", headers=tenant.headers)
    assert tried.json()["value"] == 50.0
    assert tried.json()["would_fire"] is True
    assert await events_of(app, tenant) == [], "a test records nothing"
    assert (await read_alert(client, tenant, gb["id"]))["last_checked_at"] is None

    await check_alerts(app.state.db, now=NOW)
    [(_, payload)] = await events_of(app, tenant)
    assert payload["id"] == gb["id"]
    assert (payload["dimension"], payload["dimension_value"], payload["count"]) == (
        "country",
        "GB",
        6,
    )
    assert (await read_alert(client, tenant, overall["id"]))["last_value"] == pytest.approx(6.52)


async def test_a_broken_alert_is_marked_and_the_others_are_still_checked(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app)
    b = await make_tenant(app)
    for tenant in (a, b):
        await add_calls(app, tenant, at=NOW - minutes(5), failed=5, completed=5)
    broken = await create_alert(client, a, name="broken")
    working = await create_alert(client, a, name="working")
    elsewhere = await create_alert(client, b, name="elsewhere")
    # As if the custom metric it watched had been deleted.
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Alert).where(Alert.id == broken["id"]).values(metric="custom.deleted")
        )
        await session.commit()

    assert await check_alerts(app.state.db, now=NOW) == 3

    assert [p["name"] for _, p in await events_of(app, a)] == ["working"]
    assert [p["name"] for _, p in await events_of(app, b)] == ["elsewhere"]
    shown = await read_alert(client, a, broken["id"])
    assert (shown["state"], shown["last_value"]) == ("error", None)
    assert shown["last_checked_at"] is not None
    assert (await read_alert(client, b, elsewhere["id"]))["state"] == "triggered"
    assert (await read_alert(client, a, working["id"]))["state"] == "triggered"
    tried = await client.post(f"/v1/analytics/alerts/{broken['id']}/test", headers=a.headers)
    assert_problem(tried, 409)
    assert "custom.deleted" in tried.json()["detail"]
    # It can still be switched off; pointing it at a real metric mends it.
    off = await client.patch(
        f"/v1/analytics/alerts/{broken['id']}", json={"enabled": False}, headers=a.headers
    )
    assert off.status_code == 200, off.text
    assert off.json()["state"] == "ok"
    mended = await client.patch(
        f"/v1/analytics/alerts/{broken['id']}",
        json={"metric": "calls.failure_rate", "enabled": True},
        headers=a.headers,
    )
    assert mended.status_code == 200, mended.text
    await check_alerts(app.state.db, now=NOW + minutes(1))
    assert [p["name"] for _, p in await events_of(app, a)] == ["working", "broken"]


async def test_a_check_whose_query_fails_does_not_spoil_the_others(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a failed statement ends the transaction; the others still commit."""
    tenant = await make_tenant(app)
    await add_calls(app, tenant, at=NOW - minutes(5), failed=5, completed=5)
    failing = await create_alert(client, tenant, name="failing")
    await create_alert(client, tenant, name="fine")
    evaluate = alerts.evaluate

    async def evaluate_or_fail(session: AsyncSession, alert: Alert, **options: Any) -> Any:
        if alert.name == "failing":
            await session.execute(text("SELECT * FROM no_such_table"))
        return await evaluate(session, alert, **options)

    monkeypatch.setattr(alerts, "evaluate", evaluate_or_fail)
    assert await check_alerts(app.state.db, now=NOW) == 2

    assert [p["name"] for _, p in await events_of(app, tenant)] == ["fine"]
    assert (await read_alert(client, tenant, failing["id"]))["state"] == "error"


async def test_the_job_is_registered_and_its_events_are_declared(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await add_calls(app, tenant, at=NOW - minutes(5), failed=5, completed=5)
    await create_alert(client, tenant)

    run = await client.post("/v1/jobs/analytics.check_alerts/runs", headers=tenant.headers)
    assert run.status_code == 201, run.text
    assert (run.json()["status"], run.json()["rows"]) == ("succeeded", 1)
    assert [k for k, _ in await events_of(app, tenant)] == [TRIGGERED]

    listed = await client.get("/v1/webhooks/event-types", headers=tenant.headers)
    names = {t["name"] for t in listed.json()["data"]}
    assert {TRIGGERED, RESOLVED} <= names


# ------------------------------------------------------------------ the API


async def test_alerts_are_created_listed_changed_and_deleted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await create_alert(client, tenant, name="first")
    assert {k: created[k] for k in ("window_minutes", "cooldown_minutes", "enabled")} == {
        "window_minutes": 60,
        "cooldown_minutes": 60,
        "enabled": True,
    }
    second = await create_alert(client, tenant, name="second", metric="calls.duration_avg")

    page = await client.get("/v1/analytics/alerts?limit=1", headers=tenant.headers)
    assert [a["id"] for a in page.json()["data"]] == [second["id"]]
    rest = await client.get(
        f"/v1/analytics/alerts?limit=1&cursor={page.json()['next_cursor']}",
        headers=tenant.headers,
    )
    assert [a["id"] for a in rest.json()["data"]] == [created["id"]]
    assert rest.json()["next_cursor"] is None

    changed = await client.patch(
        f"/v1/analytics/alerts/{created['id']}",
        json={"threshold": 25.5, "comparator": "gte", "cooldown_minutes": 0},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["threshold"], changed.json()["comparator"]) == (25.5, "gte")
    assert changed.json()["name"] == "first"
    disabled = await client.get("/v1/analytics/alerts?enabled=false", headers=tenant.headers)
    assert disabled.json()["data"] == []

    deleted = await client.delete(f"/v1/analytics/alerts/{created['id']}", headers=tenant.headers)
    assert deleted.status_code == 204, deleted.text
    gone = await client.get(f"/v1/analytics/alerts/{created['id']}", headers=tenant.headers)
    assert_problem(gone, 404)
    audit = await client.get("/v1/audit-log?limit=100", headers=tenant.headers)
    actions = {e["action"] for e in audit.json()["data"]}
    assert {"alert.created", "alert.updated", "alert.deleted"} <= actions


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "calls.no_such_metric"}, "metric"),
        ({"metric": "custom.no_such_metric"}, "metric"),
        ({"comparator": "eq"}, "comparator"),
        ({"threshold": "10"}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"window_minutes": 10081}, "window_minutes"),
        ({"cooldown_minutes": -1}, "cooldown_minutes"),
        ({"min_count": -1}, "min_count"),
        ({"name": "  "}, "name"),
        ({"dimension": "planet", "dimension_value": "mars"}, "dimension"),
        ({"dimension": "country"}, "dimension_value"),
        ({"dimension_value": "GB"}, "dimension"),
        ({"account_id": "acct_1"}, "account_id"),
    ],
)
async def test_an_alert_that_cannot_be_checked_is_refused(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    tenant = await make_tenant(app)
    response = await client.post(
        "/v1/analytics/alerts", json={**FAILURE_RATE, **body}, headers=tenant.headers
    )
    assert_problem(response, 422, field)
    listed = await client.get("/v1/analytics/alerts", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_a_change_is_checked_like_a_new_alert(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    alert = await create_alert(client, tenant)
    path = f"/v1/analytics/alerts/{alert['id']}"
    cases: list[tuple[dict[str, Any] | bytes, str | None]] = [
        ({"metric": "custom.nothing"}, "metric"),
        ({"dimension": "country"}, "dimension_value"),
        ({"threshold": None}, "threshold"),
        ({"window_minutes": 0}, "window_minutes"),
        (b'{"threshold": Infinity}', None),
    ]
    for body, field in cases:
        if isinstance(body, bytes):
            headers = {**tenant.headers, "Content-Type": "application/json"}
            response = await client.patch(path, content=body, headers=headers)
        else:
            response = await client.patch(path, json=body, headers=tenant.headers)
        assert_problem(response, 422, field)
    assert await read_alert(client, tenant, alert["id"]) == alert


async def test_another_organization_can_neither_see_nor_change_an_alert(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a = await make_tenant(app)
    b = await make_tenant(app)
    alert = await create_alert(client, a)
    path = f"/v1/analytics/alerts/{alert['id']}"
    never = "/v1/analytics/alerts/alrt_" + "0" * (len(alert["id"]) - 5)

    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"threshold": 99}),
        ("POST", "/test", None),
        ("DELETE", "", None),
    ]:
        response = await client.request(method, path + suffix, json=body, headers=b.headers)
        baseline = await client.request(method, never + suffix, json=body, headers=b.headers)
        assert_problem(response, 404)
        assert response.json()["detail"] == baseline.json()["detail"]
    listed = await client.get("/v1/analytics/alerts", headers=b.headers)
    assert listed.json()["data"] == []
    assert await read_alert(client, a, alert["id"]) == alert


async def test_reading_alerts_needs_analytics_read_and_changing_them_analytics_write(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    alert = await create_alert(client, tenant)
    path = f"/v1/analytics/alerts/{alert['id']}"
    reader = (await create_key(client, tenant.api_key, scopes=["analytics:read"]))["key"]
    outsider = (await create_key(client, tenant.api_key, scopes=["calls:read"]))["key"]

    for method, url in [("GET", "/v1/analytics/alerts"), ("GET", path), ("POST", path + "/test")]:
        assert (await client.request(method, url, headers=auth(reader))).status_code == 200
        refused = await client.request(method, url, headers=auth(outsider))
        assert_problem(refused, 403)
        assert refused.json()["type"] == "/problems/scope-missing"
    for method, url, body in [
        ("POST", "/v1/analytics/alerts", FAILURE_RATE),
        ("PATCH", path, {"threshold": 50}),
        ("DELETE", path, None),
    ]:
        refused = await client.request(method, url, json=body, headers=auth(reader))
        assert_problem(refused, 403)
        assert refused.json()["type"] == "/problems/scope-missing"
    assert await read_alert(client, tenant, alert["id"]) == alert


async def test_a_channel_account_id_must_be_one_of_the_organizations(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await make_tenant(app)
    b = await make_tenant(app)
    accounts = []
    for tenant in (a, b):
        created = await client.post(
            "/v1/channel-accounts",
            json={"kind": "whatsapp", "name": "Line"},
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        accounts.append(created.json()["id"])
    own, others = accounts
    body = {**FAILURE_RATE, "metric": "messages.inbound", "min_count": 0}
    never = "chan_" + "0" * (len(own) - 5)
    for account_id in (others, never):
        refused = await client.post(
            "/v1/analytics/alerts", json={**body, "account_id": account_id}, headers=a.headers
        )
        assert_problem(refused, 404)
    assert (await client.get("/v1/analytics/alerts", headers=a.headers)).json()["data"] == []
    alert = await create_alert(client, a, **{**body, "account_id": own})
    assert alert["account_id"] == own
    changed = await client.patch(
        f"/v1/analytics/alerts/{alert['id']}", json={"account_id": others}, headers=a.headers
    )
    assert_problem(changed, 404)
    assert await read_alert(client, a, alert["id"]) == alert
