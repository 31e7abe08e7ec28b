"""Who may rotate, change or revoke an API key: only a caller that could have created it
(its scopes within the caller's, its creator the caller or a member the caller may
manage, a live key only from live credentials). Refusals are 403 and audited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.identity.factories import Tenant, add_member, auth, create_key, login, make_tenant

ALL_CHANGES = [
    ("POST", "/rotate", {"grace_period_s": 0}),
    ("PATCH", "", {"name": "mine now", "allowed_ips": ["203.0.113.0/24"]}),
    ("POST", "/revoke", None),
    ("DELETE", "", None),
]


async def _member_id(client: httpx.AsyncClient, tenant: Tenant, email: str) -> str:
    members = (await client.get("/v1/members?limit=100", headers=tenant.headers)).json()["data"]
    return str(next(m["id"] for m in members if m["user"] and m["user"]["email"] == email))


async def _refusals(client: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    log = await client.get(
        "/v1/audit-log?action=api_key.change_refused&limit=100", headers=tenant.headers
    )
    entries: list[dict[str, Any]] = log.json()["data"]
    return entries


async def _key_state(client: httpx.AsyncClient, tenant: Tenant, key_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = (
        await client.get(f"/v1/api-keys/{key_id}", headers=tenant.headers)
    ).json()
    shown.pop("last_used_at"), shown.pop("first_used_at"), shown.pop("total_requests")
    return shown


async def test_an_admin_cannot_rotate_change_or_revoke_an_owners_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    admin_id, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    admin = await login(client, admin_email)
    admin_key = str((await create_key(client, admin))["key"])
    before = await _key_state(client, tenant, tenant.api_key_id)

    for caller in (admin, admin_key):
        for method, suffix, body in ALL_CHANGES:
            response = await client.request(
                method, f"/v1/api-keys/{tenant.api_key_id}{suffix}", json=body, headers=auth(caller)
            )
            assert response.status_code == 403, (method, suffix, response.text)
            assert response.json()["type"] == "/problems/permission-denied"
            assert "key" not in response.json()
            assert tenant.api_key[:12] not in response.text

    # The owner's key is untouched and still works; nothing was rotated or revoked.
    assert await _key_state(client, tenant, tenant.api_key_id) == before
    assert (await client.get("/v1/me", headers=tenant.headers)).json()["role"] == "owner"
    refusals = await _refusals(client, tenant)
    assert len(refusals) == 2 * len(ALL_CHANGES)
    assert {e["target_id"] for e in refusals} == {tenant.api_key_id}
    assert {e["details"]["reason"] for e in refusals} == {"creator_role"}
    assert sorted(e["details"]["operation"] for e in refusals) == sorted(
        ["rotate", "update", "revoke", "revoke"] * 2
    )
    assert {e["actor_id"] for e in refusals if e["actor_type"] == "user"} == {admin_id}
    rotated = await client.get("/v1/audit-log?action=api_key.rotated", headers=tenant.headers)
    assert rotated.json()["data"] == []


async def test_a_key_cannot_touch_a_key_with_more_scopes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The review's case: a key holding only api_keys:read,write rotates the owner's full
    key and receives its secret."""
    tenant = await make_tenant(app)
    narrow = await create_key(client, tenant.api_key, scopes=["api_keys:read", "api_keys:write"])
    token = str(narrow["key"])
    rotate = await client.post(f"/v1/api-keys/{tenant.api_key_id}/rotate", headers=auth(token))
    assert rotate.status_code == 403
    assert rotate.json()["scopes"]  # which scopes it lacks
    assert "key" not in rotate.json()
    wider = await client.post(
        "/v1/api-keys", json={"name": "wider", "scopes": ["users:write"]}, headers=auth(token)
    )
    assert wider.status_code == 403
    assert wider.json()["scopes"] == ["users:write"]
    entry, created = sorted(
        await _refusals(client, tenant), key=lambda e: e["details"]["operation"] != "rotate"
    )
    assert created["details"] == {
        "operation": "create",
        "reason": "scopes",
        "scopes": ["users:write"],
    }
    assert entry["details"]["reason"] == "scopes"
    assert entry["actor_type"] == "api_key"
    assert entry["actor_id"] == narrow["id"]
    # Within its own scopes it may manage keys: itself, or a key no wider than it.
    same = await create_key(client, token, name="sibling")
    assert (
        await client.post(f"/v1/api-keys/{same['id']}/rotate", headers=auth(token))
    ).status_code == 200


async def test_a_key_rotates_itself(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    rotated = await client.post(
        f"/v1/api-keys/{tenant.api_key_id}/rotate",
        json={"grace_period_s": 60},
        headers=tenant.headers,
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["issued_to"] is None  # its creator still holds it
    new = rotated.json()["key"]
    me = await client.get("/v1/me", headers=auth(new))
    assert (me.json()["role"], me.json()["principal"]["id"]) == ("owner", tenant.api_key_id)
    assert (await client.get("/v1/me", headers=tenant.headers)).status_code == 200  # grace


async def test_a_secret_rotated_by_someone_else_acts_with_the_lower_role_and_ends_with_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    first_id, first_email = await add_member(app, tenant, role=Role.ADMIN)
    second_id, second_email = await add_member(app, tenant, role=Role.ADMIN)
    first = await login(client, first_email)
    second = await login(client, second_email)
    key = await create_key(client, second, name="second's integration")

    # An admin manages another admin's keys; the new secret is theirs to hold.
    rotated = await client.post(
        f"/v1/api-keys/{key['id']}/rotate", json={"grace_period_s": 0}, headers=auth(first)
    )
    assert rotated.status_code == 200, rotated.text
    assert (rotated.json()["created_by"], rotated.json()["issued_to"]) == (second_id, first_id)
    held = rotated.json()["key"]
    me = await client.get("/v1/me", headers=auth(held))
    assert (me.json()["user"]["id"], me.json()["role"]) == (second_id, "admin")
    # A key made with the held key acts for the same creator, and is held by the same holder.
    offspring = await create_key(client, held, name="made with the held key")
    assert (offspring["created_by"], offspring["issued_to"]) == (second_id, first_id)

    # The holder demoted: the key shrinks with them, though its creator is still an admin.
    demote = await client.patch(
        f"/v1/members/{await _member_id(client, tenant, first_email)}",
        json={"role": "viewer"},
        headers=tenant.headers,
    )
    assert demote.status_code == 200
    me = await client.get("/v1/me", headers=auth(held))
    assert me.json()["role"] == "viewer"
    assert "api_keys:write" not in me.json()["principal"]["scopes"]
    assert (await client.get("/v1/api-keys", headers=auth(held))).status_code == 403

    # The holder removed: the key stops, though its creator is still a member.
    removed = await client.delete(
        f"/v1/members/{await _member_id(client, tenant, first_email)}", headers=tenant.headers
    )
    assert removed.status_code == 204
    assert (await client.get("/v1/me", headers=auth(held))).status_code == 401
    assert (await client.get("/v1/me", headers=auth(str(offspring["key"])))).status_code == 401
    assert (await client.get("/v1/me", headers=auth(second))).status_code == 200


async def test_a_key_whose_creator_was_demoted_cannot_manage_an_owners_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    _, co_owner_email = await add_member(app, tenant, role=Role.OWNER)
    co_owner = await login(client, co_owner_email)
    key = await create_key(client, co_owner, name="made while owner")
    token = str(key["key"])
    demote = await client.patch(
        f"/v1/members/{await _member_id(client, tenant, co_owner_email)}",
        json={"role": "admin"},
        headers=tenant.headers,
    )
    assert demote.status_code == 200
    refused = await client.post(f"/v1/api-keys/{tenant.api_key_id}/revoke", headers=auth(token))
    assert refused.status_code == 403
    assert (await client.get("/v1/me", headers=tenant.headers)).status_code == 200
    # An owner manages everyone's keys, this one included.
    owner_rotates = await client.post(
        f"/v1/api-keys/{key['id']}/rotate", json={"grace_period_s": 0}, headers=tenant.headers
    )
    assert owner_rotates.status_code == 200
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401


async def test_agent_sessions_and_test_keys_do_not_reach_live_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    agent = await client.post(
        "/v1/agent-sessions", json={"agent_context": {"agent_id": "bot"}}, headers=tenant.headers
    )
    agent_token = agent.json()["session_token"]
    rotate = await client.post(
        f"/v1/api-keys/{tenant.api_key_id}/rotate", headers=auth(agent_token)
    )
    assert rotate.status_code == 403
    assert rotate.json()["type"] == "/problems/scope-missing"

    test_key = str((await create_key(client, tenant.api_key, environment="test"))["key"])
    live = await client.post("/v1/api-keys", json={"name": "live"}, headers=auth(test_key))
    assert live.status_code == 403
    assert "test" in live.json()["detail"]
    for method, suffix, body in ALL_CHANGES:
        response = await client.request(
            method, f"/v1/api-keys/{tenant.api_key_id}{suffix}", json=body, headers=auth(test_key)
        )
        assert response.status_code == 403, (method, suffix)
    reasons = {e["details"]["reason"] for e in await _refusals(client, tenant)}
    assert reasons == {"test_mode"}
    other_test = await client.post(
        "/v1/api-keys", json={"name": "ci", "environment": "test"}, headers=auth(test_key)
    )
    assert other_test.status_code == 201
    assert other_test.json()["key"].startswith("cb_test_")
    assert (await client.get("/v1/me", headers=tenant.headers)).status_code == 200


@pytest.mark.parametrize("via", ["session", "key"])
async def test_an_owner_manages_an_admins_key(
    app: FastAPI, client: httpx.AsyncClient, via: str
) -> None:
    tenant = await make_tenant(app)
    _, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    admin_key = await create_key(client, await login(client, admin_email))
    owner = await login(client, tenant.owner_email) if via == "session" else tenant.api_key
    updated = await client.patch(
        f"/v1/api-keys/{admin_key['id']}", json={"name": "audited"}, headers=auth(owner)
    )
    assert updated.status_code == 200
    revoked = await client.post(f"/v1/api-keys/{admin_key['id']}/revoke", headers=auth(owner))
    assert revoked.json()["status"] == "revoked"
    assert (await client.get("/v1/me", headers=auth(str(admin_key["key"])))).status_code == 401
    assert await _refusals(client, tenant) == []
