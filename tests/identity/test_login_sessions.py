"""Login sessions: sign in, devices and places, list, revoke, expiry, password change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.core.time import FrozenClock, use_clock
from commbase.identity.roles import Role
from commbase.identity.sessions.models import LoginSession
from tests.conftest import client_for
from tests.identity.factories import (
    PASSWORD,
    add_member,
    auth,
    login,
    make_tenant,
    run_operator_job,
)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)


async def test_login_records_device_place_and_counters(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    response = await client.post(
        "/v1/auth/login",
        json={"email": tenant.owner_email.upper(), "password": PASSWORD},
        headers={
            "User-Agent": IPHONE,
            "X-Forwarded-For": "198.51.100.23",
            "CF-IPCountry": "cz",
            "CF-IPCity": "Brno",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token"].startswith("cb_sess_")
    assert body["organization"]["id"] == tenant.org_id
    session = body["session"]
    assert session["device_type"] == "mobile"
    assert session["browser"] == "Mobile Safari 17"
    assert session["os"] == "iOS 17"
    assert (session["ip_address"], session["country"], session["city"]) == (
        "198.51.100.23",
        "CZ",
        "Brno",
    )
    assert session["current"] is True
    assert body["user"]["login_count"] == 1
    assert body["user"]["last_login_at"] is not None

    async with app.state.db.sessionmaker() as db:
        stored = await db.scalar(select(LoginSession).where(LoginSession.id == session["id"]))
    assert stored is not None
    assert body["token"] not in stored.token_hash

    me = await client.get("/v1/me", headers=auth(body["token"]))
    assert me.json()["principal"]["kind"] == "user_session"
    assert me.json()["role"] == "owner"


async def test_untrusted_peer_cannot_fake_place(app: FastAPI) -> None:
    tenant = await make_tenant(app)
    async with client_for(app, ip="192.0.2.50") as http:
        response = await http.post(
            "/v1/auth/login",
            json={"email": tenant.owner_email, "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.1", "CF-IPCountry": "US"},
        )
    session = response.json()["session"]
    assert session["ip_address"] == "192.0.2.50"
    assert session["country"] is None


async def test_failed_logins_are_refused_alike_and_audited(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    wrong = await client.post(
        "/v1/auth/login", json={"email": tenant.owner_email, "password": "wrong password"}
    )
    unknown = await client.post(
        "/v1/auth/login", json={"email": "nobody@nowhere.example", "password": "whatever1"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    log = await client.get("/v1/audit-log?action=auth.login_failed", headers=tenant.headers)
    entries = log.json()["data"]
    assert len(entries) == 1
    assert entries[0]["details"] == {"reason": "bad_password"}
    assert entries[0]["target_id"] == tenant.owner_id


async def test_suspended_user_cannot_sign_in_and_loses_sessions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    agent_id, agent_email = await add_member(app, tenant, role=Role.AGENT)
    token = await login(client, agent_email)
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
    suspended = await client.patch(
        f"/v1/users/{agent_id}", json={"status": "suspended"}, headers=tenant.headers
    )
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
    again = await client.post("/v1/auth/login", json={"email": agent_email, "password": PASSWORD})
    assert again.status_code == 401


async def test_list_and_revoke_sessions(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    phone = await client.post(
        "/v1/auth/login",
        json={"email": tenant.owner_email, "password": PASSWORD},
        headers={"User-Agent": IPHONE},
    )
    laptop = await client.post(
        "/v1/auth/login",
        json={"email": tenant.owner_email, "password": PASSWORD},
        headers={"User-Agent": WINDOWS_CHROME},
    )
    tablet_token = await login(client, tenant.owner_email)
    phone_token, laptop_token = phone.json()["token"], laptop.json()["token"]

    listed = await client.get("/v1/sessions", headers=auth(laptop_token))
    sessions = listed.json()["data"]
    assert len(sessions) == 3
    assert [s["current"] for s in sessions].count(True) == 1
    current = next(s for s in sessions if s["current"])
    assert current["device_type"] == "desktop"
    assert current["browser"] == "Chrome 126"

    revoked = await client.delete(
        f"/v1/sessions/{phone.json()['session']['id']}", headers=auth(laptop_token)
    )
    assert revoked.status_code == 204
    assert (await client.get("/v1/me", headers=auth(phone_token))).status_code == 401

    others = await client.post("/v1/sessions/revoke-others", headers=auth(laptop_token))
    assert others.json() == {"revoked": 1}
    assert (await client.get("/v1/me", headers=auth(tablet_token))).status_code == 401
    assert (await client.get("/v1/me", headers=auth(laptop_token))).status_code == 200

    # API keys are not login sessions.
    assert (await client.get("/v1/sessions", headers=tenant.headers)).status_code == 403

    logout = await client.post("/v1/auth/logout", headers=auth(laptop_token))
    assert logout.status_code == 204
    assert (await client.get("/v1/me", headers=auth(laptop_token))).status_code == 401


async def test_sessions_expire_and_the_job_removes_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime.now(UTC))
    with use_clock(clock):
        token = await login(client, tenant.owner_email)
        keep = await login(client, tenant.owner_email)
        assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
        clock.advance(app.state.settings.login_session_ttl_s - 60)
        fresh = await login(client, tenant.owner_email)
        await client.post("/v1/auth/logout", headers=auth(keep))
        clock.advance(120)
        assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
        assert (await client.get("/v1/me", headers=auth(fresh))).status_code == 200
        run = await run_operator_job(app, "identity.expire_sessions")
        assert (run.status, run.rows) == ("succeeded", 2)  # the expired one and the signed-out one
    async with app.state.db.sessionmaker() as db:
        remaining = await db.scalar(select(func.count()).select_from(LoginSession))
    assert remaining == 1


async def test_password_change_signs_out_other_sessions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    here = await login(client, tenant.owner_email)
    elsewhere = await login(client, tenant.owner_email)
    wrong = await client.post(
        "/v1/me/password",
        json={"current_password": "not it at all", "new_password": "a brand new secret"},
        headers=auth(here),
    )
    assert wrong.status_code == 401
    changed = await client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        headers=auth(here),
    )
    assert changed.status_code == 204
    assert (await client.get("/v1/me", headers=auth(elsewhere))).status_code == 401
    assert (await client.get("/v1/me", headers=auth(here))).status_code == 200
    old = await client.post(
        "/v1/auth/login", json={"email": tenant.owner_email, "password": PASSWORD}
    )
    assert old.status_code == 401
    await login(client, tenant.owner_email, "a brand new secret")


async def test_user_in_two_organizations_chooses_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await make_tenant(app)
    second = await make_tenant(app)
    await add_member(app, second, role=Role.VIEWER, email=first.owner_email)
    default = await client.post(
        "/v1/auth/login", json={"email": first.owner_email, "password": PASSWORD}
    )
    assert default.json()["organization"]["id"] == first.org_id
    chosen = await client.post(
        "/v1/auth/login",
        json={"email": first.owner_email, "password": PASSWORD, "organization": second.slug},
    )
    assert chosen.status_code == 200
    token = chosen.json()["token"]
    me = await client.get("/v1/me", headers=auth(token))
    assert me.json()["organization"]["id"] == second.org_id
    assert me.json()["role"] == "viewer"
    elsewhere = await client.post(
        "/v1/auth/login",
        json={"email": first.owner_email, "password": PASSWORD, "organization": "no-such-org"},
    )
    assert elsewhere.status_code == 401


async def test_login_session_lifetime(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    before = datetime.now(UTC)
    response = await client.post(
        "/v1/auth/login", json={"email": tenant.owner_email, "password": PASSWORD}
    )
    expires = datetime.fromisoformat(response.json()["expires_at"])
    ttl = timedelta(seconds=app.state.settings.login_session_ttl_s)
    assert before + ttl <= expires <= datetime.now(UTC) + ttl
