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


def _on_behalf(user_id: str) -> dict[str, object]:
    return {**AGENT, "session_type": "authenticated", "user_id": user_id}


async def test_acting_for_another_user_needs_rights_over_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The review's case: an agent-role member opens a session acting as the owner, so its
    calls would use the owner's wallet, caller ID and limits."""
    tenant = await make_tenant(app)
    agent_id, agent_email = await add_member(app, tenant, role=Role.AGENT)
    other_agent_id, _ = await add_member(app, tenant, role=Role.AGENT)
    admin_id, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    agent = await login(client, agent_email)
    admin = await login(client, admin_email)

    refused = [
        (agent, tenant.owner_id),
        (agent, other_agent_id),
        (agent, admin_id),
        (admin, tenant.owner_id),
    ]
    for token, user_id in refused:
        response = await client.post(
            "/v1/agent-sessions", json=_on_behalf(user_id), headers=auth(token)
        )
        assert response.status_code == 403, response.text
        assert "session_token" not in response.text
    listed = await client.get("/v1/agent-sessions", headers=tenant.headers)
    assert listed.json()["data"] == []
    log = await client.get(
        "/v1/audit-log?action=agent_session.on_behalf_refused", headers=tenant.headers
    )
    assert sorted((e["actor_id"], e["target_id"]) for e in log.json()["data"]) == sorted(
        [(agent_id, user_id) for _, user_id in refused[:3]] + [(admin_id, tenant.owner_id)]
    )

    allowed = [(agent, agent_id), (admin, agent_id), (admin, admin_id), (tenant.api_key, admin_id)]
    for token, user_id in allowed:
        response = await client.post(
            "/v1/agent-sessions", json=_on_behalf(user_id), headers=auth(token)
        )
        assert response.status_code == 201, response.text
        assert response.json()["user_id"] == user_id


async def test_a_session_acting_for_someone_ends_when_the_right_to_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    agent_id, agent_email = await add_member(app, tenant, role=Role.AGENT)
    _, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    admin = await login(client, admin_email)
    opened = await client.post("/v1/agent-sessions", json=_on_behalf(agent_id), headers=auth(admin))
    token = opened.json()["session_token"]
    me = await client.get("/v1/me", headers=auth(token))
    assert me.json()["user"]["id"] == agent_id

    members = (await client.get("/v1/members", headers=tenant.headers)).json()["data"]
    agent_member = next(m["id"] for m in members if m["user"]["email"] == agent_email)
    promoted = await client.patch(
        f"/v1/members/{agent_member}", json={"role": "owner"}, headers=tenant.headers
    )
    assert promoted.status_code == 200
    # The admin may not act for an owner: the session it opened stops at once.
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401


async def test_sessions_opened_in_test_mode_are_test_mode(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    test_key = str((await create_key(client, tenant.api_key, environment="test"))["key"])
    by_test = await client.post("/v1/agent-sessions", json=AGENT, headers=auth(test_key))
    by_live = await client.post("/v1/agent-sessions", json=AGENT, headers=tenant.headers)
    assert (by_test.json()["livemode"], by_live.json()["livemode"]) == (False, True)
    test_me = await client.get("/v1/me", headers=auth(by_test.json()["session_token"]))
    live_me = await client.get("/v1/me", headers=auth(by_live.json()["session_token"]))
    assert test_me.json()["principal"]["livemode"] is False
    assert live_me.json()["principal"]["livemode"] is True
    shown = await client.get(f"/v1/agent-sessions/{by_test.json()['id']}", headers=tenant.headers)
    assert shown.json()["livemode"] is False


async def test_agent_sessions_may_register_webhooks(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    by_owner = await client.post("/v1/agent-sessions", json=AGENT, headers=tenant.headers)
    assert "webhooks:manage" in by_owner.json()["scopes"]
    _, email = await add_member(app, tenant, role=Role.AGENT)
    by_agent = await client.post(
        "/v1/agent-sessions", json=AGENT, headers=auth(await login(client, email))
    )
    assert "webhooks:manage" not in by_agent.json()["scopes"]  # an agent member holds none
