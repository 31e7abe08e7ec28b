"""Tenancy through /dashboard, which OpenAPI (and so the isolation walk and the fuzz)
does not list: a member of organization A who tampers with query parameters, ids in
paths and forwarded /v1 requests sees none of organization B's figures or records,
and changes none of them. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.calls.models import Call
from commbase.core.time import utcnow
from commbase.web.pages import PAGES
from tests.calls.factories import fund_wallet
from tests.identity.factories import Tenant, login, make_tenant
from tests.messaging.factories import create_account

B_CALLS = 3


async def _b_world(app: FastAPI, client: httpx.AsyncClient, b: Tenant) -> dict[str, Any]:
    """B's calls today (one still ringing), a channel account, a webhook endpoint, an
    alert and, when the video pages are served, a video room."""
    now = utcnow()
    async with app.state.db.sessionmaker() as session:
        calls = [
            Call(
                org_id=b.org_id,
                provider="simulator",
                status=status,
                user_id=b.owner_id,
                created_at=now - timedelta(minutes=5),
                updated_at=now - timedelta(minutes=5),
            )
            for status in ("completed", "completed", "ringing")
        ]
        session.add_all(calls)
        await session.commit()
        call_ids = [c.id for c in calls]
    account = await create_account(client, b)
    hook = await client.post(
        "/v1/webhooks",
        json={"url": "https://93.184.216.34/bravo", "event_types": ["*"]},
        headers=b.headers,
    )
    assert hook.status_code == 201, hook.text
    alert = await client.post(
        "/v1/analytics/alerts",
        json={"name": "Bravo", "metric": "calls.total", "comparator": "gt", "threshold": 1},
        headers=b.headers,
    )
    assert alert.status_code == 201, alert.text
    world = {
        "calls": call_ids,
        "account": account["id"],
        "webhook": hook.json()["id"],
        "alert": alert.json()["id"],
        "room": None,
    }
    if _serves_video(app):
        await fund_wallet(client, b.headers, amount=10_000)
        room = await client.post("/v1/video/rooms", json={"title": "Bravo"}, headers=b.headers)
        assert room.status_code == 201, room.text
        world["room"] = room.json()["id"]
    return world


def _serves_video(app: FastAPI) -> bool:
    return any(getattr(r, "path", "") == "/dashboard/video/{room_id}" for r in app.routes)


def _cards(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-metric="([^"]+)" data-value="([^"]*)"', html))


async def _cookie(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    return {"Cookie": f"cb_dash={await login(client, tenant.owner_email)}"}


async def test_a_member_of_a_sees_nothing_of_b_whatever_the_query(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    world = await _b_world(app, client, b)
    as_a, as_b = await _cookie(client, a), await _cookie(client, b)
    # B's own page shows B's calls: the checks below can fail.
    theirs = await client.get("/dashboard/operational?range=today", headers=as_b)
    assert _cards(theirs.text)["calls.total"] == str(B_CALLS)
    tampered = f"org_id={b.org_id}&organization={b.slug}&org={b.org_id}&user_id={b.owner_id}"
    for slug in PAGES:
        page = await client.get(f"/dashboard/{slug}?range=today&{tampered}", headers=as_a)
        assert page.status_code == 200, slug
        for marker in (b.org_id, b.owner_id, *world["calls"], world["account"]):
            assert marker not in page.text, (slug, marker)
        if slug == "operational":
            assert _cards(page.text)["calls.total"] == "0"
            # Calls in progress: A has none while B's call rings.
            nobody = r'<td data-value="\(all\)">\(all\)</td>(<td data-value="0">0</td>){4}'
            assert re.search(nobody, page.text)
        # B's channel account as A's filter: the API refuses it, nothing of B shown.
        filtered = await client.get(
            f"/dashboard/{slug}?range=today&account={world['account']}", headers=as_a
        )
        assert "The API refused these filters" in filtered.text, slug
        assert 'class="card"' not in filtered.text, slug
    # Forwarded /v1 reads with B's ids in paths or queries.
    for path in (
        f"/v1/calls/{world['calls'][0]}",
        f"/v1/analytics/users/{b.owner_id}",
        f"/v1/channel-accounts/{world['account']}",
        f"/v1/webhooks/{world['webhook']}",
        f"/v1/analytics/alerts/{world['alert']}",
        *([f"/v1/video/rooms/{world['room']}"] if world["room"] else []),
    ):
        answer = await client.get(f"/dashboard/api{path}", headers=as_a)
        assert answer.status_code == 404, path
    now = (await client.get("/dashboard/api/v1/analytics/calls-in-progress", headers=as_a)).json()
    assert (now["total"], now["by_agent"], now["data"]) == (0, [], [])
    series = await client.get(
        f"/dashboard/api/v1/analytics/series?metrics=calls.total&org_id={b.org_id}&compare=false",
        headers=as_a,
    )
    assert series.json()["series"][0]["total"] == 0


async def test_a_member_of_a_changes_nothing_of_b(app: FastAPI, client: httpx.AsyncClient) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    world = await _b_world(app, client, b)
    as_a = await _cookie(client, a)
    settings = await client.get("/dashboard/settings", headers=as_a)
    token = re.search(r'name="csrf_token" value="([^"]+)"', settings.text)
    assert token is not None
    form = {"csrf_token": token.group(1)}
    for path in (
        f"/dashboard/settings/webhooks/{world['webhook']}/delete",
        f"/dashboard/settings/alerts/{world['alert']}/delete",
    ):
        answer = await client.post(path, data=form, headers=as_a)
        assert answer.status_code == 404, (path, answer.status_code)
    assert (await client.get(f"/v1/webhooks/{world['webhook']}", headers=b.headers)).is_success
    alert = await client.get(f"/v1/analytics/alerts/{world['alert']}", headers=b.headers)
    assert alert.is_success
    if world["room"]:
        page = await client.get(f"/dashboard/video/{world['room']}", headers=as_a)
        assert page.status_code == 404
        assert "Bravo" not in page.text
        wrap = await client.post(
            f"/dashboard/video/{world['room']}/wrap-up",
            data={**form, "outcome": "resolved", "notes": "hijacked"},
            headers=as_a,
        )
        assert wrap.status_code == 404
        room = (await client.get(f"/v1/video/rooms/{world['room']}", headers=b.headers)).json()
        assert "hijacked" not in str(room)
