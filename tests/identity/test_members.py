"""Users, memberships and what each role may do."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.identity.factories import PASSWORD, add_member, auth, login, make_tenant


async def _member_id(client: httpx.AsyncClient, headers: dict[str, str], email: str) -> str:
    members = (await client.get("/v1/members?limit=100", headers=headers)).json()["data"]
    return str(next(m["id"] for m in members if m["user"]["email"] == email))


async def test_an_added_member_joins_when_they_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await client.post(
        "/v1/users",
        json={
            "email": "Nina.Agent@Example.com",
            "password": "long enough pw",
            "first_name": "Nina",
            "last_name": "Novak",
            "phone": "+420 601 123 456",
            "role": "agent",
            "ai_settings": {"tone": "friendly", "working_hours": {"monday": "9-17"}},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["role"], body["status"], body["user"]) == ("agent", "invited", None)
    assert body["invitation"] == {
        "email": "nina.agent@example.com",
        "first_name": "Nina",
        "last_name": "Novak",
        "phone": "+420601123456",
    }
    assert "password" not in created.text

    duplicate = await client.post(
        "/v1/users",
        json={"email": "NINA.AGENT@example.com", "role": "viewer"},
        headers=tenant.headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["type"] == "/problems/already-exists"
    # Until she accepts, the organization has an invitation, not a user.
    users = await client.get("/v1/users", headers=tenant.headers)
    assert [u["email"] for u in users.json()["data"]] == [tenant.owner_email]

    token = await login(client, "nina.agent@EXAMPLE.com", "long enough pw")
    me = await client.get("/v1/me", headers=auth(token))
    assert me.json()["role"] == "agent"
    assert me.json()["organization"]["id"] == tenant.org_id
    assert me.json()["user"]["ai_settings"]["tone"] == "friendly"
    assert me.json()["user"]["ai_settings"]["max_call_duration"] == 3600

    member = await client.get(f"/v1/members/{body['id']}", headers=tenant.headers)
    assert member.json()["status"] == "active"
    assert member.json()["invitation"] is None
    assert member.json()["user"]["name"] == "Nina Novak"
    listed = await client.get("/v1/users?q=novak", headers=tenant.headers)
    assert [u["email"] for u in listed.json()["data"]] == ["nina.agent@example.com"]
    joined = await client.get("/v1/audit-log?action=member.joined", headers=tenant.headers)
    assert [e["target_id"] for e in joined.json()["data"]] == [member.json()["user"]["id"]]


async def test_profile_update_merges_settings(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    _, email = await add_member(app, tenant, role=Role.AGENT)
    token = await login(client, email)
    updated = await client.patch(
        "/v1/me",
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "preferences": {"timezone": "Europe/Prague", "privacy_mode": True},
            "ai_settings": {"voice_preference": "male"},
        },
        headers=auth(token),
    )
    assert updated.status_code == 200, updated.text
    user = updated.json()["user"]
    assert user["name"] == "Ada Lovelace"
    assert user["preferences"]["timezone"] == "Europe/Prague"
    assert user["preferences"]["privacy_mode"] is True
    assert user["ai_settings"]["voice_preference"] == "male"
    assert user["ai_settings"]["tone"] == "professional"  # untouched fields survive
    bad_tz = await client.patch(
        "/v1/me", json={"preferences": {"timezone": "Mars/Olympus"}}, headers=auth(token)
    )
    assert bad_tz.status_code == 422


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        (Role.VIEWER, "PATCH", "/v1/organizations/current", {"name": "x"}),
        (Role.VIEWER, "GET", "/v1/api-keys", None),
        (Role.VIEWER, "GET", "/v1/audit-log", None),
        (Role.AGENT, "GET", "/v1/audit-log", None),
        (Role.AGENT, "POST", "/v1/api-keys", {"name": "mine"}),
        (Role.AGENT, "POST", "/v1/users", {"email": "x@example.com"}),
        (Role.AGENT, "PATCH", "/v1/organizations/current", {"name": "x"}),
    ],
)
async def test_roles_limit_what_members_can_do(
    app: FastAPI,
    client: httpx.AsyncClient,
    role: Role,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    tenant = await make_tenant(app)
    _, email = await add_member(app, tenant, role=role)
    token = await login(client, email)
    response = await client.request(method, path, json=body, headers=auth(token))
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/scope-missing"
    readable = await client.get("/v1/organizations/current", headers=auth(token))
    assert readable.status_code == 200


async def test_role_changes(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    _, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    _, agent_email = await add_member(app, tenant, role=Role.AGENT)
    admin = await login(client, admin_email)
    agent = await login(client, agent_email)
    owner_member = await _member_id(client, tenant.headers, tenant.owner_email)
    agent_member = await _member_id(client, tenant.headers, agent_email)

    # Admins manage agents but cannot mint or touch owners.
    promote = await client.patch(
        f"/v1/members/{agent_member}", json={"role": "admin"}, headers=auth(admin)
    )
    assert promote.status_code == 200
    assert (await client.get("/v1/audit-log", headers=auth(agent))).status_code == 200
    to_owner = await client.patch(
        f"/v1/members/{agent_member}", json={"role": "owner"}, headers=auth(admin)
    )
    assert to_owner.status_code == 403
    demote_owner = await client.patch(
        f"/v1/members/{owner_member}", json={"role": "viewer"}, headers=auth(admin)
    )
    assert demote_owner.status_code == 403

    # The last owner stays an owner.
    self_demote = await client.patch(
        f"/v1/members/{owner_member}", json={"role": "admin"}, headers=tenant.headers
    )
    assert self_demote.status_code == 403
    assert "at least one owner" in self_demote.json()["detail"]

    log = await client.get("/v1/audit-log?action=member.role_changed", headers=tenant.headers)
    [entry] = log.json()["data"]
    assert entry["details"] == {"from": "agent", "to": "admin"}


async def test_removed_member_loses_access(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    _, email = await add_member(app, tenant, role=Role.AGENT)
    token = await login(client, email)
    member = await _member_id(client, tenant.headers, email)
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
    removed = await client.delete(f"/v1/members/{member}", headers=tenant.headers)
    assert removed.status_code == 204
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
    gone = await client.get(f"/v1/members/{member}", headers=tenant.headers)
    assert gone.status_code == 404
    again = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert again.status_code == 401


async def test_an_admin_cannot_change_an_owners_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    agent_id, _ = await add_member(app, tenant, role=Role.AGENT)
    _, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    admin = await login(client, admin_email)

    async def owner() -> dict[str, object]:
        shown = (await client.get(f"/v1/users/{tenant.owner_id}", headers=tenant.headers)).json()
        shown.pop("last_activity_at")  # the owner's key is in use here; being used is no change
        return dict(shown)

    before = await owner()
    for body in (
        {"preferences": {"default_caller_id": "+19005550199"}},
        {"limits": {"daily_spend_limit": 0}},
        {"status": "suspended"},
        {"first_name": "Mallory"},
    ):
        response = await client.patch(
            f"/v1/users/{tenant.owner_id}", json=body, headers=auth(admin)
        )
        assert response.status_code == 403, body
    assert await owner() == before
    # An admin manages agents; a key with users:write may edit its own creator.
    limited = await client.patch(
        f"/v1/users/{agent_id}", json={"limits": {"daily_spend_limit": 500}}, headers=auth(admin)
    )
    assert limited.json()["limits"]["daily_spend_limit"] == 500
    own = await client.patch(
        f"/v1/users/{tenant.owner_id}", json={"first_name": "Olga"}, headers=tenant.headers
    )
    assert own.json()["first_name"] == "Olga"
