"""What ingest refuses item by item, and what it keeps: JSON too deep, integers too big,
datetimes without an offset, pageview addresses; privacy-mode erasure of a call's events
(lab runs: tests/engagement/test_lab.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from commbase.analytics import rollup
from commbase.calls import privacy_mode
from commbase.calls.models import Call
from commbase.core.time import FrozenClock, use_clock
from commbase.tracking.models import Pageview, TrackedEvent
from tests.identity.factories import make_tenant
from tests.tracking.factories import add_events

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


async def post(client: httpx.AsyncClient, headers: dict[str, str], events: Any) -> httpx.Response:
    return await client.post("/v1/track/events", json=events, headers=headers)


def deep(levels: int, leaf: str = "1") -> str:
    """JSON text of ``levels`` objects nested in one another around ``leaf``."""
    return '{"a":' * levels + leaf + "}" * levels


def event(event_id: str, kind: str, **fields: str) -> str:
    """One event as JSON text; ``fields`` are JSON texts (integers beyond 64 bits too)."""
    parts = [f'"id":"{event_id}"', f'"type":"{kind}"', *(f'"{k}":{v}' for k, v in fields.items())]
    return "{" + ",".join(parts) + "}"


def json_body(events: list[str]) -> bytes:
    return ("[" + ",".join(events) + "]").encode()


async def stored(app: FastAPI, org_id: str) -> list[TrackedEvent]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(TrackedEvent).where(TrackedEvent.org_id == org_id).order_by(TrackedEvent.seq)
        )
        return list(rows)


@pytest.mark.parametrize("ndjson", [False, True], ids=["json", "ndjson"])
async def test_deep_json_and_huge_integers_are_bad_items_and_the_rest_is_kept(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, ndjson: bool
) -> None:
    tenant = await make_tenant(app)
    batches = [
        [
            event("ok-1", "page.scrolled", data='{"depth":3}'),
            event("deep", "page.scrolled", data=deep(1000)),
            event("deep-meta", "x", metadata=f'{{"sdk_version":"1","extra":{deep(40)}}}'),
            event("edge", "page.scrolled", data=deep(31, f'{{"b":{2**63 - 1}}}')),
        ],
        [
            event("big", "order.paid", data=f'{{"amount":{2**64}}}'),
            event("huge", "order.paid", data=f'{{"amount":{7 * 10**40}}}'),
            event("negative", "order.paid", data=f'{{"items":[{-(2**63) - 1}]}}'),
            event("no-type", "", data="{}"),  # invalid too: the batch is read item by item
            event("ok-2", "balance.low", data=f'{{"n":{-(2**63)},"id":"{"9" * 30}"}}'),
        ],
    ]
    rejected: dict[str, dict[str, Any]] = {}
    accepted = 0
    for batch in batches:
        if ndjson:
            body, kind = "\n".join(batch).encode(), "application/x-ndjson"
        else:
            body, kind = json_body(batch), "application/json"
        response = await client.post(
            "/v1/track/events", content=body, headers={**tenant.headers, "Content-Type": kind}
        )
        assert response.status_code == 200, response.text
        accepted += response.json()["accepted"]
        rejected |= {r["id"]: r["errors"][0] for r in response.json()["rejected"]}

    assert accepted == 3
    assert sorted(rejected) == ["big", "deep", "deep-meta", "huge", "negative", "no-type"]
    assert rejected["deep"]["field"] == "data"
    assert "32 levels" in rejected["deep"]["message"]
    assert rejected["deep-meta"]["field"] == "metadata"
    for name in ("big", "huge", "negative"):
        assert "64 bits" in rejected[name]["message"], rejected[name]
    events = await stored(app, tenant.org_id)
    assert [e.event_id for e in events] == ["ok-1", "edge", "ok-2"]
    assert events[1].data == orjson.loads(deep(31, f'{{"b":{2**63 - 1}}}'))
    assert events[2].data == {"n": -(2**63), "id": "9" * 30}


@pytest.mark.parametrize(
    "item",
    [
        event("deep", "x", data=deep(1000)),
        event("big", "x", data='{"n":3000000000000000000000}'),
        event("naive", "x", timestamp='"2026-11-20T09:00:00"'),
        event("edge", "x", timestamp='"0001-01-01T00:00:00+01:00"'),
        event("ahead", "x", timestamp='"9999-12-31T23:59:59-01:00"'),
    ],
    ids=["deep", "big", "naive", "first-day", "last-day"],
)
async def test_a_single_bad_event_is_a_422_and_nothing_is_stored(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, item: str
) -> None:
    tenant = await make_tenant(app)
    response = await client.post(
        "/v1/track/events",
        content=json_body([item]),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["errors"][0]["loc"][:2] == ["body", "0"]
    assert problem["rejected"][0]["index"] == 0
    assert await stored(app, tenant.org_id) == []
    replayed = await post(client, tenant.headers, [{"id": "r", "type": "x"}])
    again = await post(client, tenant.headers, [{"id": "r", "type": "x"}])
    assert (replayed.status_code, again.json()) == (
        200,
        {"accepted": 0, "duplicates": 1, "rejected": []},
    )


async def test_an_expiry_at_the_calendar_edge_keeps_the_organizations_period(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    response = await client.post(
        "/v1/track/events",
        content=json_body([event("far", "x", expires_at='"9999-12-31T23:59:59-01:00"')]),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.json()["accepted"] == 1, response.text
    [kept] = await stored(app, tenant.org_id)
    assert kept.expires_at == NOW + timedelta(days=90)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example/",
        "https://",
        "/relative/path",
    ],
)
async def test_a_pageview_is_of_an_http_address(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, url: str
) -> None:
    tenant = await make_tenant(app)
    refused = await client.post("/v1/track/pageview", json={"url": url}, headers=tenant.headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "url"
    naive = await client.post(
        "/v1/track/pageview",
        json={"url": "https://shop.example/", "timestamp": "2026-11-20T09:00:00"},
        headers=tenant.headers,
    )
    assert naive.status_code == 422, naive.text
    kept = await client.post(
        "/v1/track/pageview",
        json={"url": "HTTPS://shop.example/a", "timestamp": "2026-11-20T10:00:00+01:00"},
        headers=tenant.headers,
    )
    assert kept.status_code == 201, kept.text
    async with app.state.db.sessionmaker() as session:
        view = await session.get(Pageview, kept.json()["pageview_id"])
    assert view is not None
    assert view.occurred_at == NOW - timedelta(hours=1)
    for when in ("0001-01-01T00:00:00Z", "2025-10-01T00:00:00Z", "2026-11-22T00:00:00Z"):
        refused = await client.post(
            "/v1/track/pageview",
            json={"url": "https://shop.example/", "timestamp": when},
            headers=tenant.headers,
        )
        assert refused.status_code == 422, (when, refused.text)  # past retention, or ahead
        assert refused.json()["errors"][0]["field"] == "timestamp"
        lab = await client.post(
            "/v1/track/lab",
            json={"experiment_type": "neural-art", "timestamp": when},
            headers=tenant.headers,
        )
        assert lab.status_code == 422, (when, lab.text)


async def test_privacy_mode_erasure_removes_the_calls_tracked_events(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        private = Call(
            org_id=tenant.org_id,
            provider="simulator",
            status="completed",
            privacy_mode=True,
            created_at=NOW - timedelta(hours=3),
        )
        session.add(private)
        await session.commit()
    at = NOW - timedelta(hours=3)
    await add_events(
        app,
        tenant.org_id,
        at=at,
        events=[
            {"type": "call.quality_degraded", "call_id": private.id},
            {"type": "call.rated", "data": {"call_id": private.id, "stars": 5}},
            {"type": "call.quality_degraded", "call_id": "call_another"},
            {"type": "balance.low", "data": {"call_id": "call_another"}},
        ],
    )
    other = await make_tenant(app)
    await add_events(app, other.org_id, at=at, events=[{"type": "x", "call_id": private.id}])
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))
    url = "/v1/analytics/series?metrics=events.total&from=2026-11-01T00:00:00Z"
    assert (await client.get(url, headers=tenant.headers)).json()["series"][0]["total"] == 4
    clock.advance(60)  # the call ends after the fold

    async with app.state.db.sessionmaker() as session:
        call = await session.get(Call, private.id)
        assert call is not None
        await privacy_mode.erase_call(session, call=call)
        await session.commit()

    left = await stored(app, tenant.org_id)
    assert [(e.type, e.call_id, e.data) for e in left] == [
        ("call.quality_degraded", "call_another", {}),
        ("balance.low", None, {"call_id": "call_another"}),
    ]
    assert len(await stored(app, other.org_id)) == 1  # another organization's are its own
    assert (await client.get(url, headers=tenant.headers)).json()["series"][0]["total"] == 2
    await rollup.fold(app.state.db, now=clock.advance(60), lag=timedelta(0))
    assert (await client.get(url, headers=tenant.headers)).json()["series"][0]["total"] == 2


async def test_a_replay_of_an_event_erased_with_its_call_is_stored_again(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        private = Call(
            org_id=tenant.org_id, provider="simulator", status="completed", privacy_mode=True
        )
        session.add(private)
        await session.commit()
    sent = [{"id": "q-1", "type": "call.quality_degraded", "call_id": private.id}]
    assert (await post(client, tenant.headers, sent)).json()["accepted"] == 1

    async with app.state.db.sessionmaker() as session:
        call = await session.get(Call, private.id)
        assert call is not None
        await privacy_mode.erase_call(session, call=call)
        await session.commit()
    assert await stored(app, tenant.org_id) == []
    replay = await post(client, tenant.headers, sent)

    # The erased event's id went with it: the replay is a new event, not a duplicate.
    assert replay.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert [e.event_id for e in await stored(app, tenant.org_id)] == ["q-1"]
