"""Adding a member by email: an invitation, answered the same whether or not the email
has an account elsewhere, showing only what the admin submitted until the person
accepts by signing in to the organization."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from commbase.identity.roles import Role
from tests.identity.factories import PASSWORD, Tenant, add_member, auth, login, make_tenant

SUBMITTED = {"first_name": "Ines", "last_name": "Invited", "role": "agent", "password": "set by B"}


async def _invite(client: httpx.AsyncClient, tenant: Tenant, email: str) -> httpx.Response:
    return await client.post(
        "/v1/users", json={**SUBMITTED, "email": email}, headers=tenant.headers
    )


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in body.items() if k not in ("id", "created_at")}
    shown["invitation"] = {**shown["invitation"], "email": "…"}
    return shown


async def test_the_answer_does_not_depend_on_an_account_elsewhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    person_id, person_email = await add_member(app, a, role=Role.ADMIN)
    await client.patch(
        f"/v1/users/{person_id}",
        json={"first_name": "Real", "phone": "+420601123456"},
        headers=a.headers,
    )

    known = await _invite(client, b, person_email)
    unknown = await _invite(client, b, "nobody.yet@example.com")
    assert known.status_code == unknown.status_code == 201, known.text
    assert _without_ids(known.json()) == _without_ids(unknown.json())
    assert known.json()["invitation"] == {
        "email": person_email,
        "first_name": "Ines",
        "last_name": "Invited",
        "phone": None,
    }
    for text in (known.text, (await client.get("/v1/members", headers=b.headers)).text):
        for secret in (person_id, "Real", "+420601123456", a.org_id):
            assert secret not in text
    # Nothing of the account reaches B by other doors either.
    for path in ("/v1/users", "/v1/audit-log"):
        response = await client.get(path, headers=b.headers)
        assert person_id not in response.text, path
    as_user = await client.get(f"/v1/users/{person_id}", headers=b.headers)
    nobody = await client.get("/v1/users/usr_00000000000000000000000000", headers=b.headers)
    assert as_user.status_code == nobody.status_code == 404
    assert as_user.json()["detail"] == nobody.json()["detail"]
    on_behalf = await client.post(
        "/v1/agent-sessions",
        json={
            "session_type": "authenticated",
            "user_id": person_id,
            "agent_context": {"agent_id": "bot"},
        },
        headers=b.headers,
    )
    assert on_behalf.status_code == 404
    # A failed sign-in of the person is recorded where they are a member, not in B.
    await client.post("/v1/auth/login", json={"email": person_email, "password": "wrong pw"})
    failures = "/v1/audit-log?action=auth.login_failed"
    assert len((await client.get(failures, headers=a.headers)).json()["data"]) == 1
    assert (await client.get(failures, headers=b.headers)).json()["data"] == []


async def test_an_existing_account_keeps_its_password_and_joins_by_signing_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    _, person_email = await add_member(app, a, role=Role.AGENT)
    invited = (await _invite(client, b, person_email)).json()

    refused = await client.post(
        "/v1/auth/login", json={"email": person_email, "password": SUBMITTED["password"]}
    )
    assert refused.status_code == 401  # B's password was not applied to the account
    home = await client.post("/v1/auth/login", json={"email": person_email, "password": PASSWORD})
    assert home.json()["organization"]["id"] == a.org_id  # an invitation waits to be chosen
    member = await client.get(f"/v1/members/{invited['id']}", headers=b.headers)
    assert member.json()["status"] == "invited"

    joined = await client.post(
        "/v1/auth/login",
        json={"email": person_email, "password": PASSWORD, "organization": b.slug},
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["organization"]["id"] == b.org_id
    me = await client.get("/v1/me", headers=auth(joined.json()["token"]))
    assert me.json()["role"] == "agent"
    member = await client.get(f"/v1/members/{invited['id']}", headers=b.headers)
    assert member.json()["status"] == "active"
    assert member.json()["user"]["email"] == person_email
    assert member.json()["invitation"] is None
    # A still has them as before.
    a_session = await client.post(
        "/v1/auth/login",
        json={"email": person_email, "password": PASSWORD, "organization": a.slug},
    )
    assert a_session.status_code == 200


async def test_a_new_account_joins_at_its_first_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    invited = (await _invite(client, tenant, "fresh@example.com")).json()
    token = await login(client, "fresh@example.com", SUBMITTED["password"])
    me = (await client.get("/v1/me", headers=auth(token))).json()
    assert (me["organization"]["id"], me["role"]) == (tenant.org_id, "agent")
    assert me["user"]["name"] == "Ines Invited"
    member = await client.get(f"/v1/members/{invited['id']}", headers=tenant.headers)
    assert member.json()["status"] == "active"


async def test_an_invitation_can_be_changed_or_cancelled_before_it_is_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a, b = await make_tenant(app), await make_tenant(app)
    person_id, person_email = await add_member(app, a, role=Role.AGENT)
    invited = (await _invite(client, b, person_email)).json()

    changed = await client.patch(
        f"/v1/members/{invited['id']}", json={"role": "viewer"}, headers=b.headers
    )
    assert changed.status_code == 200
    assert (changed.json()["role"], changed.json()["status"]) == ("viewer", "invited")
    assert changed.json()["user"] is None
    pending = await client.get("/v1/members?status=invited", headers=b.headers)
    assert [m["id"] for m in pending.json()["data"]] == [invited["id"]]

    cancelled = await client.delete(f"/v1/members/{invited['id']}", headers=b.headers)
    assert cancelled.status_code == 204
    log = await client.get("/v1/audit-log?limit=100", headers=b.headers)
    actions = [(e["action"], e["target_type"], e["target_id"]) for e in log.json()["data"]]
    assert ("member.invited", "membership", invited["id"]) in actions
    assert ("member.invitation_cancelled", "membership", invited["id"]) in actions
    assert person_id not in log.text
    late = await client.post(
        "/v1/auth/login",
        json={"email": person_email, "password": PASSWORD, "organization": b.slug},
    )
    assert late.status_code == 401
    # Inviting again is possible; the person is still A's.
    assert (await _invite(client, b, person_email)).status_code == 201
    again = await client.post(
        "/v1/auth/login",
        json={"email": person_email, "password": PASSWORD, "organization": a.slug},
    )
    assert again.status_code == 200


async def test_an_invited_owner_is_not_an_owner_yet(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    _, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    admin = await login(client, admin_email)
    as_admin = await client.post(
        "/v1/users", json={"email": "boss@example.com", "role": "owner"}, headers=auth(admin)
    )
    assert as_admin.status_code == 403
    invited = await client.post(
        "/v1/users", json={"email": "boss@example.com", "role": "owner"}, headers=tenant.headers
    )
    assert invited.status_code == 201
    # The one accepted owner is still the last owner.
    members = (await client.get("/v1/members", headers=tenant.headers)).json()["data"]
    owner_member = next(m["id"] for m in members if m["user"] and m["role"] == "owner")
    demote = await client.patch(
        f"/v1/members/{owner_member}", json={"role": "admin"}, headers=tenant.headers
    )
    assert demote.status_code == 403
    assert "at least one owner" in demote.json()["detail"]
    cancel = await client.delete(f"/v1/members/{invited.json()['id']}", headers=auth(admin))
    assert cancel.status_code == 403


async def test_concurrent_invitations_of_one_email_make_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    answers = await asyncio.gather(
        *(_invite(client, tenant, "twice@example.com") for _ in range(3))
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409], [a.text for a in answers]
    pending = await client.get("/v1/members?status=invited", headers=tenant.headers)
    assert [m["invitation"]["email"] for m in pending.json()["data"]] == ["twice@example.com"]


async def test_an_account_made_for_a_cancelled_invitation_goes_with_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    first = await client.post(
        "/v1/users",
        json={"email": "gone@example.com", "password": "first password"},
        headers=tenant.headers,
    )
    cancelled = await client.delete(f"/v1/members/{first.json()['id']}", headers=tenant.headers)
    assert cancelled.status_code == 204
    again = await client.post(
        "/v1/users",
        json={"email": "gone@example.com", "password": "second password"},
        headers=tenant.headers,
    )
    assert again.status_code == 201
    old = await client.post(
        "/v1/auth/login", json={"email": "gone@example.com", "password": "first password"}
    )
    assert old.status_code == 401
    token = await login(client, "gone@example.com", "second password")
    assert (await client.get("/v1/me", headers=auth(token))).json()["role"] == "agent"

    # An account that was used is not closed by a cancelled invitation elsewhere.
    other = await make_tenant(app)
    invited = (await _invite(client, other, "gone@example.com")).json()
    await client.delete(f"/v1/members/{invited['id']}", headers=other.headers)
    await login(client, "gone@example.com", "second password")
