"""Tracking API: event batches, pageviews and sessions, visitors, lab runs, privacy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.core.time import FrozenClock, use_clock
from commbase.engagement.lab.models import LabExperiment
from commbase.identity.roles import Role
from commbase.privacy import retention
from commbase.privacy.registry import retention_kinds
from commbase.tracking.models import (
    Pageview,
    TrackedEvent,
    TrackingSalt,
    Visitor,
    VisitorSession,
)
from tests.conftest import client_for
from tests.identity.factories import Tenant, add_member, auth, create_key, make_tenant
from tests.privacy.factories import download, request_erasure, request_export

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


async def post_events(
    client: httpx.AsyncClient, tenant: Tenant, events: list[Any], *, ndjson: bool = False
) -> httpx.Response:
    if ndjson:
        body = b"\n".join(orjson.dumps(e) for e in events) + b"\n"
        content_type = "application/x-ndjson"
    else:
        body, content_type = orjson.dumps(events), "application/json"
    return await client.post(
        "/v1/track/events",
        content=body,
        headers={**tenant.headers, "Content-Type": content_type},
    )


async def stored_events(app: FastAPI, org_id: str) -> list[TrackedEvent]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(TrackedEvent).where(TrackedEvent.org_id == org_id).order_by(TrackedEvent.seq)
        )
        return list(rows)


async def count(app: FastAPI, model: Any, org_id: str) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(model).where(model.org_id == org_id)
            )
            or 0
        )


# ------------------------------------------------------------------ events


async def test_a_batch_keeps_its_good_events_and_lists_the_bad_ones(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    batch: list[Any] = [
        {
            "id": "q-1",
            "type": "call.quality_degraded",
            "call_id": "call_1",
            "user_id": "usr_1",
            "data": {"mos": 2.9, "jitter_ms": 41},
            "metadata": {"sdk_version": "2.1.0", "user_agent": "sdk/2.1", "platform": "ios"},
            "timestamp": "2026-11-20T09:59:30+01:00",
        },
        {"data": {"balance": 1}},  # no type
        {"type": "balance low!"},  # spaces are not allowed in a type
        {"type": "balance.low", "data": {"balance": 120, "currency": "USD"}},
        42,
        {"type": "rate_limit.hit", "user_id": "u" * 65},
        {"type": "rate_limit.hit", "timestamp": "2026-11-22T10:00:00Z"},  # 2 days ahead
        {"type": "rate_limit.hit", "timestamp": "2026-08-01T00:00:00Z"},  # past retention
        {"id": "bad-extra", "type": "x", "colour": "red"},
    ]

    response = await post_events(client, tenant, batch)

    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["duplicates"]) == (2, 0)
    rejected = {r["index"]: r for r in result["rejected"]}
    assert sorted(rejected) == [1, 2, 4, 5, 6, 7, 8]
    assert [e["field"] for e in rejected[1]["errors"]] == ["type"]
    assert rejected[2]["errors"][0]["field"] == "type"
    assert "pattern" in rejected[2]["errors"][0]["message"]
    assert rejected[4]["errors"][0]["message"] == "an event must be a JSON object"
    assert rejected[5]["errors"][0]["field"] == "user_id"
    assert "future" in rejected[6]["errors"][0]["message"]
    assert "90 days" in rejected[7]["errors"][0]["message"]
    assert (rejected[8]["id"], rejected[8]["errors"][0]["field"]) == ("bad-extra", "colour")

    first, second = await stored_events(app, tenant.org_id)
    assert (first.event_id, first.type, first.call_id, first.user_id) == (
        "q-1",
        "call.quality_degraded",
        "call_1",
        "usr_1",
    )
    assert first.data == {"mos": 2.9, "jitter_ms": 41}
    assert first.metadata_ == {"sdk_version": "2.1.0", "user_agent": "sdk/2.1", "platform": "ios"}
    assert first.occurred_at == datetime(2026, 11, 20, 8, 59, 30, tzinfo=UTC)
    assert first.received_at == NOW
    assert first.expires_at == first.occurred_at + timedelta(days=90)
    assert second.event_id.startswith("evt_")
    assert (second.type, second.data, second.occurred_at) == (
        "balance.low",
        {"balance": 120, "currency": "USD"},
        NOW,
    )


async def test_ndjson_batches_are_accepted(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    events = [{"id": f"n-{i}", "type": "page.scrolled", "data": {"depth": i}} for i in range(5)]

    response = await post_events(client, tenant, [*events, {"type": ""}], ndjson=True)

    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 5
    assert [r["index"] for r in response.json()["rejected"]] == [5]
    assert [e.data["depth"] for e in await stored_events(app, tenant.org_id)] == list(range(5))
    broken = await client.post(
        "/v1/track/events",
        content=b'{"type": "a"}\n{"type": ',
        headers={**tenant.headers, "Content-Type": "application/x-ndjson"},
    )
    assert broken.status_code == 400, broken.text
    assert "Line 2" in broken.json()["detail"]


async def test_a_replayed_id_is_stored_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    batch = [
        {"id": "r-1", "type": "balance.low", "data": {"n": 1}},
        {"id": "r-2", "type": "balance.low"},
        {"id": "r-1", "type": "balance.low", "data": {"n": 2}},  # repeated inside the batch
    ]
    first = await post_events(client, tenant, batch)
    assert first.json() == {"accepted": 2, "duplicates": 1, "rejected": []}

    replay = await post_events(client, tenant, [*batch, {"id": "r-3", "type": "balance.low"}])

    assert replay.json() == {"accepted": 1, "duplicates": 3, "rejected": []}
    stored = await stored_events(app, tenant.org_id)
    assert [(e.event_id, e.data) for e in stored] == [
        ("r-1", {"n": 1}),
        ("r-2", {}),
        ("r-3", {}),
    ]


async def test_another_organization_neither_sees_nor_dedupes_against_your_events(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    assert (await post_events(client, a, [{"id": "shared", "type": "x"}])).json()["accepted"] == 1

    answer = await post_events(client, b, [{"id": "shared", "type": "y"}])

    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert [e.type for e in await stored_events(app, a.org_id)] == ["x"]
    assert [e.type for e in await stored_events(app, b.org_id)] == ["y"]


async def test_another_organizations_retention_neither_bounds_nor_stamps_your_events(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    changed = await client.put(
        "/v1/privacy/retention", json={"overrides": {"analytics_events": 30}}, headers=a.headers
    )
    assert changed.status_code == 200, changed.text
    default = retention_kinds()["analytics_events"].default_days
    assert default > 40
    sent = [{"id": "old", "type": "x", "timestamp": (NOW - timedelta(days=40)).isoformat()}]

    refused, kept = await post_events(client, a, sent), await post_events(client, b, sent)

    assert refused.status_code == 422, refused.text
    assert "30 days" in refused.json()["rejected"][0]["errors"][0]["message"]
    assert kept.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    [stored] = await stored_events(app, b.org_id)
    assert stored.expires_at == NOW - timedelta(days=40) + timedelta(days=default)


async def test_batch_limits_and_malformed_bodies(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    many = [{"type": "tick"} for _ in range(1001)]
    for ndjson in (False, True):
        too_many = await post_events(client, tenant, many, ndjson=ndjson)
        assert too_many.status_code == 413, too_many.text
        assert too_many.json()["type"] == "/problems/payload-too-large"
        assert "1001" in too_many.json()["detail"]
    assert await count(app, TrackedEvent, tenant.org_id) == 0

    full = await post_events(client, tenant, many[:1000])
    assert full.json()["accepted"] == 1000
    empty = await post_events(client, tenant, [])
    assert empty.json() == {"accepted": 0, "duplicates": 0, "rejected": []}

    cases = [
        (b'{"type": "a"}', "application/json", 422, "/problems/validation-failed"),
        (b"[{oops", "application/json", 400, "/problems/invalid-request"),
        (b"", "application/json", 400, "/problems/invalid-request"),
        (b"[]", "text/plain", 415, "/problems/unsupported-media-type"),
        (
            b'[{"type": "a", "data": {"x": NaN}}]',
            "application/json",
            400,
            "/problems/invalid-request",
        ),
    ]
    for body, content_type, status, problem in cases:
        response = await client.post(
            "/v1/track/events",
            content=body,
            headers={**tenant.headers, "Content-Type": content_type},
        )
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == problem
    nul = await post_events(client, tenant, [{"type": "ok"}, {"type": "a", "data": {"t": "\x00"}}])
    assert nul.json()["accepted"] == 1
    assert [r["index"] for r in nul.json()["rejected"]] == [1]
    assert await count(app, TrackedEvent, tenant.org_id) == 1001


async def test_tracking_needs_the_track_write_scope(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    reader = str((await create_key(client, tenant.api_key, scopes=["analytics:read"]))["key"])
    writer = str((await create_key(client, tenant.api_key, scopes=["track:write"]))["key"])
    routes = [
        ("/v1/track/events", [{"type": "x"}]),
        ("/v1/track/pageview", {"url": "https://shop.example/"}),
        ("/v1/track/visitor", {}),
        ("/v1/track/lab", {"experiment_type": "neural-art"}),
    ]
    for path, body in routes:
        refused = await client.post(path, json=body, headers=auth(reader))
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["required"] == ["track:write"]
        allowed = await client.post(path, json=body, headers=auth(writer))
        assert allowed.status_code in (200, 201), (path, allowed.text)
    assert await count(app, TrackedEvent, tenant.org_id) == 1


async def test_raw_ip_addresses_are_kept_only_when_the_organization_opts_in(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    event = {"type": "login", "metadata": {"ip_address": "198.51.100.7", "sdk_version": "1"}}
    await post_events(client, tenant, [{**event, "id": "before"}])
    opt_in = await client.patch(
        "/v1/organizations/current",
        json={"settings": {"analytics": {"store_ip": True}}},
        headers=tenant.headers,
    )
    assert opt_in.status_code == 200, opt_in.text
    await post_events(client, tenant, [{**event, "id": "after"}])

    before, after = await stored_events(app, tenant.org_id)
    assert before.metadata_ == {"sdk_version": "1"}
    assert after.metadata_ == {"ip_address": "198.51.100.7", "sdk_version": "1"}


async def test_events_expire_by_the_organizations_period(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    soon = (NOW + timedelta(days=2)).isoformat()
    await post_events(
        client,
        tenant,
        [
            {"id": "default", "type": "x"},
            {"id": "chosen", "type": "x", "expires_at": soon},
            {"id": "past", "type": "x", "expires_at": "2026-11-19T00:00:00Z"},
        ],
    )
    changed = await client.put(
        "/v1/privacy/retention",
        json={"overrides": {"analytics_events": 30}},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    await post_events(client, tenant, [{"id": "later", "type": "x"}])

    expiry = {e.event_id: e.expires_at for e in await stored_events(app, tenant.org_id)}
    # The override restamps what is stored, and stamps what comes after.
    assert expiry == {
        "default": NOW + timedelta(days=30),
        "chosen": NOW + timedelta(days=30),
        "later": NOW + timedelta(days=30),
    }
    old = await post_events(
        client, tenant, [{"type": "x", "timestamp": (NOW - timedelta(days=31)).isoformat()}]
    )
    assert "30 days" in old.json()["rejected"][0]["errors"][0]["message"]


# ------------------------------------------------------------------ pageviews


async def pageview(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/track/pageview", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_thirty_minutes_without_a_pageview_ends_the_session(
    app: FastAPI, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    async with client_for(app, ip="203.0.113.50") as browser:
        browser.headers["User-Agent"] = IPHONE
        landing = await pageview(
            browser,
            tenant,
            url="https://shop.example/pricing?utm_source=news&utm_medium=email&utm_campaign=fall",
            title="Pricing",
            referrer="https://www.google.com/search?q=shop",
        )
        clock.advance(29 * 60)
        second = await pageview(browser, tenant, url="https://shop.example/signup")
        clock.advance(30 * 60 + 1)
        third = await pageview(browser, tenant, url="https://shop.example/", utm_source="ads")

    assert landing["new_session"]
    assert not second["new_session"]
    assert third["new_session"]
    assert landing["visitor_id"] == second["visitor_id"] == third["visitor_id"]
    assert landing["session_id"] == second["session_id"] != third["session_id"]
    async with app.state.db.sessionmaker() as session:
        visitor = await session.get(Visitor, landing["visitor_id"])
        assert visitor is not None
        assert (visitor.pageviews, visitor.sessions, visitor.device_type) == (3, 2, "mobile")
        assert (visitor.first_seen_at, visitor.last_seen_at) == (NOW, clock.now())
        assert (visitor.referrer, visitor.utm_source) == (
            "https://www.google.com/search?q=shop",
            "news",
        )
        first_session = await session.get(VisitorSession, landing["session_id"])
        assert first_session is not None
        assert (first_session.pageviews, first_session.exit_url) == (
            2,
            "https://shop.example/signup",
        )
        assert first_session.last_seen_at == NOW + timedelta(minutes=29)
        assert first_session.referrer_host == "www.google.com"
        view = await session.get(Pageview, landing["pageview_id"])
        assert view is not None
        assert (view.path, view.title, view.referrer_host) == (
            "/pricing",
            "Pricing",
            "www.google.com",
        )
        assert (view.utm_source, view.utm_medium, view.utm_campaign) == ("news", "email", "fall")
        assert (view.device_type, view.os) == ("mobile", "iOS 17")
        assert view.browser is not None
        assert view.browser.startswith("Mobile Safari")
        last = await session.get(Pageview, third["pageview_id"])
        assert last is not None
        assert last.utm_source == "ads"
        # No raw IP anywhere: the visitor id is a salted hash.
        assert "203.0.113.50" not in str(
            [(c.name, getattr(visitor, c.key, None)) for c in Visitor.__mapper__.columns]
        )


async def test_visitor_ids_hold_for_a_utc_day_and_rotate_the_next(
    app: FastAPI, clock: FrozenClock
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    clock.set(datetime(2026, 11, 20, 0, 5, tzinfo=UTC))

    async def visit(ip: str, agent: str = CHROME, who: Tenant = tenant, **body: Any) -> str:
        async with client_for(app, ip=ip) as browser:
            browser.headers["User-Agent"] = agent
            return str(
                (await pageview(browser, who, url="https://a.example/", **body))["visitor_id"]
            )

    morning = await visit("198.51.100.1")
    clock.set(datetime(2026, 11, 20, 23, 55, tzinfo=UTC))
    evening = await visit("198.51.100.1")
    elsewhere = await visit("198.51.100.2")
    other_browser = await visit("198.51.100.1", agent=IPHONE)
    other_org = await visit("198.51.100.1", who=other)
    clock.set(datetime(2026, 11, 21, 0, 5, tzinfo=UTC))
    next_day = await visit("198.51.100.1")
    own = await visit("198.51.100.1", visitor_id="cookie-123")
    clock.advance(3 * 86_400)
    own_later = await visit("198.51.100.9", visitor_id="cookie-123")
    await visit("198.51.100.1")

    assert morning == evening
    assert len({morning, elsewhere, other_browser, other_org, next_day}) == 5
    assert morning.startswith("vis_")
    assert len(morning) == 28
    assert own == own_later
    async with app.state.db.sessionmaker() as session:
        days = list(await session.scalars(select(TrackingSalt.day)))
    assert days == [date(2026, 11, 24)]  # a new day's salt deletes those two days old


async def test_country_and_city_come_only_from_trusted_proxies(
    app: FastAPI, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    geo = {"CF-IPCountry": "fr", "CF-IPCity": "Lyon", "X-Forwarded-For": "192.0.2.44"}
    answers = []
    for peer in ("127.0.0.1", "203.0.113.9"):
        async with client_for(app, ip=peer) as browser:
            browser.headers.update(geo)
            answers.append(await pageview(browser, tenant, url="https://a.example/"))
    async with app.state.db.sessionmaker() as session:
        via_proxy = await session.get(Pageview, answers[0]["pageview_id"])
        direct = await session.get(Pageview, answers[1]["pageview_id"])
    assert via_proxy is not None
    assert direct is not None
    assert (via_proxy.country, via_proxy.city) == ("FR", "Lyon")
    assert (direct.country, direct.city) == (None, None)


async def test_the_visitor_endpoint_upserts_and_returns_the_open_session(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    first = await client.post(
        "/v1/track/visitor",
        json={"visitor_id": "c-1", "language": "fr-FR", "utm_source": "news"},
        headers=tenant.headers,
    )
    assert first.status_code == 200, first.text
    clock.advance(60)
    again = await client.post(
        "/v1/track/visitor",
        json={"visitor_id": "c-1", "user_id": "usr_9", "utm_source": "later"},
        headers=tenant.headers,
    )
    view = await pageview(client, tenant, url="https://a.example/", visitor_id="c-1")

    body = again.json()
    assert body["visitor_id"] == first.json()["visitor_id"] == view["visitor_id"]
    assert body["session_id"] == first.json()["session_id"] == view["session_id"]
    assert (body["sessions"], body["first_seen_at"]) == (1, "2026-11-20T10:00:00Z")
    async with app.state.db.sessionmaker() as session:
        visitor = await session.get(Visitor, body["visitor_id"])
    assert visitor is not None
    assert (visitor.language, visitor.user_id, visitor.utm_source) == ("fr-FR", "usr_9", "news")
    assert (visitor.pageviews, visitor.updated_at) == (1, NOW + timedelta(seconds=60))


# ------------------------------------------------------------------ privacy


async def test_a_users_tracked_data_is_exported_and_erased(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    me, _ = await add_member(app, tenant, role=Role.AGENT)
    someone = "usr_someone_else"
    await post_events(
        client,
        tenant,
        [
            {"type": "balance.low", "user_id": me, "data": {"email": "owner@x.example"}},
            {"type": "balance.low", "user_id": someone, "data": {"n": 1}},
        ],
    )
    mine = await pageview(
        client, tenant, url="https://a.example/account?email=owner", user_id=me, visitor_id="v-me"
    )
    await pageview(client, tenant, url="https://a.example/", visitor_id="v-other")
    await client.post(
        "/v1/track/lab",
        json={"experiment_type": "neural-art", "user_id": me, "input": {"prompt": "my cat"}},
        headers=tenant.headers,
    )

    export = await request_export(client, tenant.headers, "user", me)
    files, text = await download(client, tenant.headers, export["id"])
    assert [e["data"] for e in files["tracked_events.json"]] == [{"email": "owner@x.example"}]
    assert [p["id"] for p in files["pageviews.json"]] == [mine["pageview_id"]]
    assert [v["id"] for v in files["visitors.json"]] == [mine["visitor_id"]]
    assert [s["id"] for s in files["visitor_sessions.json"]] == [mine["session_id"]]
    assert files["lab_experiments.json"][0]["input"] == {"prompt": "my cat"}
    assert someone not in text

    erasure = await request_erasure(client, tenant.headers, "user", me)

    assert erasure["status"] == "completed", erasure
    events = await stored_events(app, tenant.org_id)
    assert len(events) == 2  # still counted
    erased = next(e for e in events if e.user_id != someone)
    assert erased.user_id is not None
    assert erased.user_id.startswith("anon_")
    assert erased.data == {}
    assert erased.metadata_ == {}
    async with app.state.db.sessionmaker() as session:
        view = await session.get(Pageview, mine["pageview_id"])
        lab = await session.scalar(
            select(LabExperiment).where(LabExperiment.org_id == tenant.org_id)
        )
    assert view is not None
    assert lab is not None
    assert (view.url, view.user_id) == ("", erased.user_id)
    assert (lab.input, lab.user_id) == ({}, erased.user_id)
    async with app.state.db.sessionmaker() as session:
        for model in (TrackedEvent, Pageview, VisitorSession, Visitor, LabExperiment):
            left = await session.scalar(select(func.count()).where(model.user_id == me))
            assert left == 0, model.__tablename__


async def test_retention_purges_expired_events_and_old_pageviews(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await post_events(client, tenant, [{"id": "old", "type": "x"}])
    await pageview(client, tenant, url="https://a.example/old", visitor_id="v-old")
    await client.post(
        "/v1/track/lab", json={"experiment_type": "neural-art"}, headers=tenant.headers
    )
    clock.advance(89 * 86_400)
    await post_events(client, tenant, [{"id": "young", "type": "x"}])
    kinds = retention_kinds()

    removed = await retention.purge_kind(app.state.db, kinds["analytics_events"], now=clock.now())
    assert removed == 0
    clock.advance(86_400)
    removed = await retention.purge_kind(app.state.db, kinds["analytics_events"], now=clock.now())
    assert removed == 1
    assert [e.event_id for e in await stored_events(app, tenant.org_id)] == ["young"]

    await pageview(client, tenant, url="https://a.example/new", visitor_id="v-new")
    clock.advance(306 * 86_400)  # 395 days after the first pageview, and a day more
    await retention.purge_kind(app.state.db, kinds["analytics_pageviews"], now=clock.now())
    async with app.state.db.sessionmaker() as session:
        urls = list(await session.scalars(select(Pageview.url)))
        visitors = await session.scalar(select(func.count()).select_from(Visitor))
        labs = await session.scalar(select(func.count()).select_from(LabExperiment))
    assert urls == ["https://a.example/new"]
    assert (visitors, labs) == (1, 0)
