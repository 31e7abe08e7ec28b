"""The dashboard's routes without a browser, on SQLite and PostgreSQL: bad filters,
another organization's account, the forwarding of /v1 GETs, sign-in refusals, and
the live notifier's cost (one outbox query per change, whatever the tabs)."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from commbase.identity.roles import Role
from commbase.web import live
from commbase.web.live import LiveNotifier
from tests.conftest import client_for
from tests.contacts.factories import create_contact
from tests.identity.factories import PASSWORD, Tenant, add_member, login, make_tenant
from tests.messaging.factories import create_account


async def _signed_in(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    token = await login(client, tenant.owner_email)
    return {"Cookie": f"cb_dash={token}"}


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    answer = await client.get("/dashboard/operational?range=7d")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dashboard/login?next=")
    assert (await client.get("/dashboard/events")).status_code == 401
    assert (await client.get("/dashboard/api/v1/me")).status_code == 401
    forged = {"Cookie": "cb_dash=cb_sess_forged.value"}
    assert (await client.get("/dashboard/executive", headers=forged)).status_code == 303


async def test_another_organizations_account_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ours, theirs = await make_tenant(app), await make_tenant(app)
    account = await create_account(client, theirs)
    headers = await _signed_in(client, ours)
    page = await client.get(f"/dashboard/messaging?account={account['id']}", headers=headers)
    assert page.status_code == 200
    assert "The API refused these filters" in page.text
    assert 'class="card"' not in page.text
    forwarded = await client.get(
        f"/dashboard/api/v1/analytics/series?metrics=messages.sent&account_id={account['id']}",
        headers=headers,
    )
    assert forwarded.status_code == 404
    # Their own account is listed for them, not for us.
    listed = await client.get("/dashboard/messaging", headers=headers)
    assert account["id"] not in listed.text


async def test_forwarding_reads_only(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    headers = await _signed_in(client, tenant)
    csv = await client.get(
        "/dashboard/api/v1/analytics/series.csv?metrics=calls.total", headers=headers
    )
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    posted = await client.post("/dashboard/api/v1/calls", json={"to": "+14155550100"})
    assert posted.status_code == 405


async def test_sign_in_refusals(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    form = await client.get("/dashboard/login?next=//evil.example/x")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    assert 'value="/dashboard/executive"' in form.text  # not the foreign next
    wrong = await client.post(
        "/dashboard/login",
        data={"csrf_token": token.group(1), "email": tenant.owner_email, "password": "nope"},
    )
    assert wrong.status_code == 401
    assert "cb_dash=" not in wrong.headers.get("set-cookie", "")
    right = await client.post(
        "/dashboard/login",
        data={
            "csrf_token": token.group(1),
            "email": tenant.owner_email,
            "password": PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/dashboard/executive"
    cookie = right.headers["set-cookie"]
    assert "cb_dash=cb_sess_" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/dashboard" in cookie


async def test_one_outbox_query_per_change_whatever_the_tabs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant, other = await make_tenant(app), await make_tenant(app)
    notifier = LiveNotifier(app.state.db, None, poll_s=30.0, min_gap_s=0.0)
    tabs = [notifier.subscribe(tenant.org_id) for _ in range(25)]
    elsewhere = notifier.subscribe(other.org_id)
    try:
        await asyncio.sleep(0.05)  # the notifier is listening
        before = notifier.queries
        await create_contact(client, tenant.headers, name="Ada Lovelace")
        messages = await asyncio.wait_for(asyncio.gather(*(tab.get() for tab in tabs)), 5)
        assert all(tenant.org_id in message for message in messages)
        assert elsewhere.empty()
        assert notifier.queries - before <= 2
    finally:
        await notifier.close()


async def test_the_cookie_is_secure_behind_a_trusted_https_proxy(app: FastAPI) -> None:
    tenant = await make_tenant(app)
    https = {"X-Forwarded-Proto": "https"}
    for ip, secure in (("127.0.0.1", True), ("203.0.113.9", False)):
        async with client_for(app, ip=ip) as client:
            form = await client.get("/dashboard/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            signed = await client.post(
                "/dashboard/login",
                data={
                    "csrf_token": token.group(1),
                    "email": tenant.owner_email,
                    "password": PASSWORD,
                },
                headers=https,
            )
            assert signed.status_code == 303
            session_cookie = next(
                c for c in signed.headers.get_list("set-cookie") if c.startswith("cb_dash=")
            )
            assert ("Secure" in session_cookie) is secure, ip


async def test_settings_changes_need_an_admin_and_the_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    _, viewer_email = await add_member(app, tenant, role=Role.VIEWER)
    viewer = {"Cookie": f"cb_dash={await login(client, viewer_email)}"}
    page = await client.get("/dashboard/executive", headers=viewer)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    alert = {"name": "Failures", "metric": "calls.failure_rate", "comparator": "gt"}
    as_viewer = await client.post(
        "/dashboard/settings/alerts",
        data={**alert, "threshold": "5", "csrf_token": token.group(1)},
        headers=viewer,
    )
    assert as_viewer.status_code == 403
    assert "Only owners and admins" in as_viewer.text
    owner = await _signed_in(client, tenant)
    page = await client.get("/dashboard/settings", headers=owner)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    other_token = await client.post(
        "/dashboard/settings/alerts",
        data={**alert, "threshold": "5", "csrf_token": "0" * 64},
        headers=owner,
    )
    assert other_token.status_code == 403
    bad = await client.post(
        "/dashboard/settings/alerts",
        data={**alert, "threshold": "lots", "csrf_token": token.group(1)},
        headers=owner,
    )
    assert bad.status_code == 422  # the API's refusal, shown on the page
    assert (await client.get("/v1/analytics/alerts", headers=tenant.headers)).json()["data"] == []
    made = await client.post(
        "/dashboard/settings/alerts",
        data={**alert, "threshold": "5", "csrf_token": token.group(1)},
        headers=owner,
    )
    assert made.status_code == 303
    listed = (await client.get("/v1/analytics/alerts", headers=tenant.headers)).json()["data"]
    assert [(a["name"], a["threshold"]) for a in listed] == [("Failures", 5)]


async def test_changes_cross_processes_through_redis(
    app: FastAPI, client: httpx.AsyncClient, redis_url: str | None
) -> None:
    if redis_url is None:
        pytest.skip("needs Redis (COMMBASE_TEST_REDIS_URL, PostgreSQL stack)")
    tenant = await make_tenant(app)
    notifier = LiveNotifier(app.state.db, redis_url, min_gap_s=0.0)
    listener = Redis.from_url(redis_url)
    pubsub = listener.pubsub()
    await pubsub.subscribe(live.CHANNEL)
    tab = notifier.subscribe(tenant.org_id)
    try:
        await asyncio.sleep(0.2)  # the notifier hears its channel
        # A change in this process is published for the others...
        await create_contact(client, tenant.headers, name="Grace Hopper")
        await asyncio.wait_for(tab.get(), 5)
        published = None
        async with asyncio.timeout(5):
            while published is None:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    published = json.loads(message["data"])
        assert published["org_id"] == tenant.org_id
        # ...and one another process publishes reaches this process's tabs.
        await listener.publish(
            live.CHANNEL,
            json.dumps({"origin": "another", "org_id": tenant.org_id, "types": ["call.created"]}),
        )
        heard = json.loads(await asyncio.wait_for(tab.get(), 5))
        assert heard == {"org_id": tenant.org_id, "types": ["call.created"]}
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()
        await notifier.close()
