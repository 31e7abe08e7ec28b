"""The video call pages without a browser, on SQLite and PostgreSQL: the guest page
refuses a missing, altered or expired link; the client is served; the agent page needs
the dashboard sign-in and joins nobody when opened: its Join button's POST (with the
session's CSRF token) joins the signed-in member; another organization's room is
hidden, and the wrap-up form needs the session's CSRF token too."""

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


def _csrf(app: FastAPI, headers: dict[str, str]) -> str:
    token = headers["Cookie"].removeprefix("cb_dash=")
    return cookies.session_csrf(token, secret=app.state.settings.secret_key.get_secret_value())


async def _join(
    app: FastAPI, client: httpx.AsyncClient, room_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    """What the page's Join button does."""
    joined = await client.post(
        f"/dashboard/video/{room_id}/join",
        data={"csrf_token": _csrf(app, headers)},
        headers=headers,
    )
    assert joined.status_code == 200, joined.text
    assert joined.headers["cache-control"] == "no-store"
    grant: dict[str, Any] = joined.json()
    return grant


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
        app.state.settings, org_id=tenant.org_id, room_id=room["id"], ttl_s=-1, generation=0
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


async def test_opening_the_agent_page_joins_nobody_its_join_button_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ours, theirs = await make_tenant(app), await make_tenant(app)
    room = await _room(client, ours)
    path = f"/dashboard/video/{room['id']}"
    api_path = f"/v1/video/rooms/{room['id']}"
    anonymous = await client.get(path)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/dashboard/login?next=")
    unsigned = await client.post(f"{path}/join", data={"csrf_token": "x"})
    assert unsigned.status_code == 401
    assert unsigned.headers["content-type"] == "application/problem+json"

    _, headers = await _signed_in(client, ours)
    page = await client.get(path, headers=headers)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert "Carla &lt;b&gt;" in page.text  # escaped
    config = _config(page.text)
    assert "grant" not in config
    assert config["ended"] is False
    assert "cb_vpt_" not in page.text
    assert f'action="{path}/join"' in page.text
    assert f'name="csrf_token" value="{_csrf(app, headers)}"' in page.text
    assert ">Join call</button>" in page.text
    # Looking at the page while the customer waits leaves the room waiting.
    guest = await client.post("/v1/video/guest/join", json={"token": room["guest_token"]})
    assert guest.status_code == 200, guest.text
    for _ in range(2):
        assert (await client.get(path, headers=headers)).status_code == 200
    shown = (await client.get(api_path, headers=ours.headers)).json()
    assert (shown["status"], shown["response_seconds"]) == ("waiting", None)

    # A post without the session's CSRF token (another site's form) joins nobody.
    for form in ({}, {"csrf_token": "forged"}, {"csrf_token": _csrf(app, headers)[:-1]}):
        forged = await client.post(f"{path}/join", data=form, headers=headers)
        assert forged.status_code == 403, form
        assert "CSRF" in forged.json()["detail"]
        assert "access_token" not in forged.text
    shown = (await client.get(api_path, headers=ours.headers)).json()
    assert shown["status"] == "waiting"

    grant = await _join(app, client, room["id"], headers)
    assert grant["room_id"] == room["id"]
    assert grant["role"] == "agent"
    assert grant["access_token"].startswith("cb_vpt_")
    shown = (await client.get(api_path, headers=ours.headers)).json()
    assert shown["status"] == "connected"
    assert shown["response_seconds"] is not None
    # Joining again is the same participant.
    again = await _join(app, client, room["id"], headers)
    assert again["participant_id"] == grant["participant_id"]

    # Another organization's member sees no such room, cannot join it nor wrap it up.
    _, their_headers = await _signed_in(client, theirs)
    assert (await client.get(path, headers=their_headers)).status_code == 404
    their_csrf = _csrf(app, their_headers)
    joined = await client.post(
        f"{path}/join", data={"csrf_token": their_csrf}, headers=their_headers
    )
    assert joined.status_code == 404
    assert "access_token" not in joined.text
    form = {"csrf_token": their_csrf, "problem_solved": "true", "outcome": "resolved"}
    posted = await client.post(f"{path}/wrap-up", data=form, headers=their_headers)
    assert posted.status_code == 404
    # Room ids that cannot be one are refused before anything is asked.
    for bad in ("x" * 300, "vid_..%2F..%2Fv1", "nothing"):
        answer = await client.post(
            f"/dashboard/video/{bad}/join", data={"csrf_token": their_csrf}, headers=their_headers
        )
        assert 400 <= answer.status_code < 500, bad
        assert "access_token" not in answer.text


async def test_the_wrap_up_form_needs_the_sessions_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await _room(client, tenant)
    path = f"/dashboard/video/{room['id']}"
    token, headers = await _signed_in(client, tenant)
    grant = await _join(app, client, room["id"], headers)
    as_agent = {"Authorization": f"Bearer {grant['access_token']}"}
    ended = await client.post(f"/v1/video/rooms/{room['id']}/end", headers=as_agent)
    assert ended.status_code == 200, ended.text

    page = await client.get(path, headers=headers)
    assert page.status_code == 200
    assert _config(page.text)["ended"] is True
    assert ">Join call</button>" not in page.text
    assert 'action="/dashboard/video/' in page.text
    # An ended room cannot be joined.
    late = await client.post(
        f"{path}/join", data={"csrf_token": _csrf(app, headers)}, headers=headers
    )
    assert late.status_code == 409

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
