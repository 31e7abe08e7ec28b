"""The video call pages without a browser, on SQLite and PostgreSQL: the guest page
refuses a missing, altered or expired link; the client is served; the agent page needs
the dashboard sign-in, joins the signed-in member, hides another organization's room,
and its wrap-up form needs the session's CSRF token."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.calls.video import credentials
from commbase.web import cookies
from tests.calls.factories import fund_wallet
from tests.identity.factories import Tenant, login, make_tenant

CONFIG = re.compile(r'<script type="application/json" id="video-config">(.*?)</script>', re.S)


def _config(html: str) -> dict[str, Any]:
    found = CONFIG.search(html)
    assert found is not None
    config: dict[str, Any] = json.loads(found.group(1))
    return config


async def _room(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    await fund_wallet(client, tenant.headers, amount=10_000)
    created = await client.post(
        "/v1/video/rooms", json={"customer_name": "Carla <b>"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    room: dict[str, Any] = created.json()
    return room


async def _signed_in(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict[str, str]]:
    token = await login(client, tenant.owner_email)
    return token, {"Cookie": f"cb_dash={token}"}


async def test_the_guest_page_refuses_a_missing_altered_or_expired_link(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await _room(client, tenant)
    token = room["guest_token"]
    page = await client.get("/video/join", params={"token": token})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/video/static/client.js">' in page.text
    config = _config(page.text)
    assert config["guest_token"] == token
    assert config["grant"] is None
    assert token not in config["storage_key"]
    assert "Join the call" in page.text

    body, _, signature = token.partition(".")
    altered = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature
    expired = credentials.sign_guest_link(
        app.state.settings, org_id=tenant.org_id, room_id=room["id"], ttl_s=-1
    ).token
    for bad, status in ((altered, 403), (expired, 403), ("", 400), ("cb_vgl_x.y", 403)):
        refused = await client.get("/video/join", params={"token": bad})
        assert refused.status_code == status, bad
        assert "This call link has expired or is not valid" in refused.text
        assert "video-config" not in refused.text
        assert "client.js" not in refused.text
        # The API refuses the same links.
        joined = await client.post("/v1/video/guest/join", json={"token": bad or "x"})
        assert joined.status_code in (401, 422), bad


async def test_the_client_and_its_stylesheet_are_served(client: httpx.AsyncClient) -> None:
    script = await client.get("/video/static/client.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "export function estimateMos" in script.text
    style = await client.get("/video/static/video.css")
    assert style.headers["content-type"].startswith("text/css")
    for name in ("nope.js", "..%2Fvideo.py", "dashboard.js"):
        assert (await client.get(f"/video/static/{name}")).status_code == 404


async def test_the_agent_page_joins_the_signed_in_member(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ours, theirs = await make_tenant(app), await make_tenant(app)
    room = await _room(client, ours)
    path = f"/dashboard/video/{room['id']}"
    anonymous = await client.get(path)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/dashboard/login?next=")

    _, headers = await _signed_in(client, ours)
    page = await client.get(path, headers=headers)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert "Carla &lt;b&gt;" in page.text  # escaped
    grant = _config(page.text)["grant"]
    assert grant["room_id"] == room["id"]
    assert grant["role"] == "agent"
    assert grant["access_token"].startswith("cb_vpt_")
    # Loading the page again is the same participant.
    again = _config((await client.get(path, headers=headers)).text)["grant"]
    assert again["participant_id"] == grant["participant_id"]

    # Another organization's member sees no such room, and cannot wrap it up.
    _, their_headers = await _signed_in(client, theirs)
    assert (await client.get(path, headers=their_headers)).status_code == 404
    their_token = their_headers["Cookie"].removeprefix("cb_dash=")
    secret = app.state.settings.secret_key.get_secret_value()
    their_csrf = cookies.session_csrf(their_token, secret=secret)
    form = {"csrf_token": their_csrf, "problem_solved": "true", "outcome": "resolved"}
    posted = await client.post(f"{path}/wrap-up", data=form, headers=their_headers)
    assert posted.status_code == 404


async def test_the_wrap_up_form_needs_the_sessions_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await _room(client, tenant)
    path = f"/dashboard/video/{room['id']}"
    token, headers = await _signed_in(client, tenant)
    grant = _config((await client.get(path, headers=headers)).text)["grant"]
    as_agent = {"Authorization": f"Bearer {grant['access_token']}"}
    ended = await client.post(f"/v1/video/rooms/{room['id']}/end", headers=as_agent)
    assert ended.status_code == 200, ended.text

    page = await client.get(path, headers=headers)
    assert page.status_code == 200
    assert _config(page.text)["grant"] is None  # an ended room is not joined
    assert 'action="/dashboard/video/' in page.text

    form = {"problem_solved": "true", "outcome": "resolved", "notes": "Reset the router"}
    refused = await client.post(f"{path}/wrap-up", data=form, headers=headers)
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    shown = await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)
    assert shown.json()["outcome"] is None

    csrf = cookies.session_csrf(token, secret=app.state.settings.secret_key.get_secret_value())
    saved = await client.post(f"{path}/wrap-up", data={**form, "csrf_token": csrf}, headers=headers)
    assert saved.status_code == 303
    assert saved.headers["location"] == path
    shown = await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)
    assert (shown.json()["outcome"], shown.json()["problem_solved"]) == ("resolved", True)
    after = await client.get(path, headers=headers)
    assert "Wrap-up saved: resolved, problem solved." in after.text

    # A bad outcome comes back as the API's refusal on the page.
    bad = await client.post(
        f"{path}/wrap-up",
        data={"csrf_token": csrf, "problem_solved": "true", "outcome": "<x>"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text
