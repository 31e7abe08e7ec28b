"""Agent sessions: an AI agent's own token, consent, limits, expiry and termination."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from commbase.core.time import FrozenClock, use_clock
from commbase.identity.roles import Role
from tests.identity.factories import (
    add_member,
    auth,
    create_key,
    login,
    make_tenant,
    run_operator_job,
)

AGENT = {
    "agent_context": {
        "agent_id": "agent_123",
        "agent_name": "CustomerSupportBot",
        "agent_version": "1.0",
        "capabilities": ["voice_calling", "transcription"],
    },
    "user_consent": {
        "calling_authorized": True,
        "privacy_mode": True,
        "max_spend_limit": 1000,
        "data_retention": "session_only",
    },
    "rate_limits": {"calls_per_hour": 20, "max_call_duration": 600},
}


async def test_guest_session_token_is_its_own_narrow_credential(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await client.post("/v1/agent-sessions", json=AGENT, headers=tenant.headers)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    token = body["session_token"]
    assert token.startswith("cb_agt_")
    assert body["session_type"] == "guest"
    assert body["user_id"] is None
    assert body["user_consent"]["data_retention"] == "session_only"
    assert body["stats"] == {"calls_made": 0, "total_duration": 0, "total_spent": 0}
    assert "calls:create" in body["scopes"]
    assert "api_keys:read" not in body["scopes"]
    created_at = datetime.fromisoformat(body["created_at"])
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert (expires_at - created_at).total_seconds() == 6 * 3600

    me = await client.get("/v1/me", headers=auth(token))
    assert me.status_code == 200
    assert me.json()["principal"]["kind"] == "agent_session"
    assert me.json()["principal"]["agent"]["agent_id"] == "agent_123"
    assert me.json()["user"] is None
    assert (await client.get("/v1/api-keys", headers=auth(token))).status_code == 403
    assert (
        await client.post("/v1/agent-sessions", json=AGENT, headers=auth(token))
    ).status_code == 403
    own = await client.get(f"/v1/agent-sessions/{body['id']}", headers=auth(token))
    assert own.status_code == 200
    assert "session_token" not in own.json()

    ended = await client.post(f"/v1/agent-sessions/{body['id']}/terminate", headers=auth(token))
    assert ended.json()["status"] == "terminated"
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401


async def test_agent_scopes_are_bounded_by_the_creator(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key, scopes=["agent_sessions:write", "calls:read"])
    created = await client.post("/v1/agent-sessions", json=AGENT, headers=auth(str(key["key"])))
    assert created.json()["scopes"] == ["calls:read"]


async def test_authenticated_session_and_expiry(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    agent_user, agent_email = await add_member(app, tenant, role=Role.AGENT)
    clock = FrozenClock(datetime.now(UTC))
    with use_clock(clock):
        created = await client.post(
            "/v1/agent-sessions",
            json={
                **AGENT,
                "session_type": "authenticated",
                "user_id": agent_user,
                "expires_in_s": 600,
            },
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        assert created.json()["user_id"] == agent_user
        token = created.json()["session_token"]
        me = await client.get("/v1/me", headers=auth(token))
        assert me.json()["user"]["email"] == agent_email
        clock.advance(601)
        assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
        run = await run_operator_job(app, "identity.expire_sessions")
        assert (run.status, run.rows) == ("succeeded", 1)
        shown = await client.get(
            f"/v1/agent-sessions/{created.json()['id']}", headers=tenant.headers
        )
        assert shown.json()["status"] == "expired"
        listed = await client.get("/v1/agent-sessions?status=expired", headers=tenant.headers)
        assert [s["id"] for s in listed.json()["data"]] == [created.json()["id"]]


async def test_authenticated_session_needs_a_member(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    foreign = await client.post(
        "/v1/agent-sessions",
        json={**AGENT, "session_type": "authenticated", "user_id": other.owner_id},
        headers=tenant.headers,
    )
    assert foreign.status_code == 404


async def test_agent_member_can_open_sessions_but_not_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    _, email = await add_member(app, tenant, role=Role.AGENT)
    token = await login(client, email)
    created = await client.post("/v1/agent-sessions", json=AGENT, headers=auth(token))
    assert created.status_code == 201
    bad = await client.post(
        "/v1/agent-sessions",
        json={**AGENT, "user_consent": {"data_retention": "forever"}},
        headers=auth(token),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "user_consent", "data_retention"]
