"""Publishable keys: managed by staff with API-key rights, shown once, hashed at rest,
limited to intake scopes and web origins, and refused by every non-intake route."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from commbase.identity.publishable_keys.models import PublishableKey
from commbase.identity.roles import Role
from tests.identity.factories import add_member, auth, login, make_tenant

ORIGIN = "https://shop.example"


async def create_publishable_key(
    client: httpx.AsyncClient, token: str, **body: Any
) -> dict[str, Any]:
    body.setdefault("name", "website forms")
    body.setdefault("scopes", ["intake:support"])
    body.setdefault("allowed_origins", [ORIGIN])
    response = await client.post("/v1/publishable-keys", json=body, headers=auth(token))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_key_is_shown_once_hashed_at_rest_and_managed_by_staff(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await create_publishable_key(
        client,
        tenant.api_key,
        scopes=["intake:support", "intake:careers", "intake:support"],
        allowed_origins=["HTTPS://Shop.Example:443/", "http://localhost:3000"],
        rate_limit_per_minute=5,
    )
    key = str(created["key"])
    assert key.startswith("cb_pub_")
    assert created["prefix"] == key[:12]
    assert created["scopes"] == ["intake:careers", "intake:support"]
    assert created["allowed_origins"] == ["http://localhost:3000", ORIGIN]
    assert created["rate_limit_per_minute"] == 5

    async with app.state.db.sessionmaker() as session:
        stored = await session.scalar(
            select(PublishableKey).where(PublishableKey.id == created["id"])
        )
    assert stored is not None
    assert len(stored.key_hash) == 64
    assert key not in (stored.key_hash, stored.prefix)

    listed = await client.get("/v1/publishable-keys", headers=tenant.headers)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["data"]] == [created["id"]]
    assert key not in listed.text
    one = await client.get(f"/v1/publishable-keys/{created['id']}", headers=tenant.headers)
    assert one.status_code == 200
    assert "key" not in one.json()

    changed = await client.patch(
        f"/v1/publishable-keys/{created['id']}",
        json={"allowed_origins": ["https://www.shop.example"], "rate_limit_per_minute": 9},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["allowed_origins"] == ["https://www.shop.example"]
    assert changed.json()["rate_limit_per_minute"] == 9

    # The key opens no other route.
    for path in ("/v1/me", "/v1/api-keys", "/v1/publishable-keys", "/v1/contacts"):
        response = await client.get(path, headers={**auth(key), "Origin": ORIGIN})
        assert response.status_code == 401, (path, response.text)
        assert response.json()["type"] == "/problems/invalid-credentials"
    written = await client.post(
        "/v1/contacts", json={"name": "Mallory"}, headers={**auth(key), "Origin": ORIGIN}
    )
    assert written.status_code == 401

    revoked = await client.post(
        f"/v1/publishable-keys/{created['id']}/revoke", headers=tenant.headers
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    active = await client.get("/v1/publishable-keys?status=active", headers=tenant.headers)
    assert active.json()["data"] == []
    audit = (await client.get("/v1/audit-log", headers=tenant.headers)).json()["data"]
    actions = {entry["action"] for entry in audit}
    assert {"publishable_key.created", "publishable_key.revoked"} <= actions


async def test_only_intake_scopes_and_web_origins_are_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    bad_bodies: list[tuple[dict[str, Any], str]] = [
        ({"scopes": ["calls:read"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"allowed_origins": []}, "allowed_origins"),
        ({"allowed_origins": ["https://shop.example/contact"]}, "allowed_origins"),
        ({"allowed_origins": ["ftp://shop.example"]}, "allowed_origins"),
        ({"allowed_origins": ["*"]}, "allowed_origins"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
    ]
    for overrides, field in bad_bodies:
        body = {"name": "x", "scopes": ["intake:support"], "allowed_origins": [ORIGIN]}
        body.update(overrides)
        response = await client.post("/v1/publishable-keys", json=body, headers=tenant.headers)
        assert response.status_code == 422, (overrides, response.text)
        assert field in {e["field"].split(".")[0] for e in response.json()["errors"]}
    listed = await client.get("/v1/publishable-keys", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_only_members_with_api_key_rights_manage_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await create_publishable_key(client, tenant.api_key)
    _, agent_email = await add_member(app, tenant, role=Role.AGENT)
    agent = await login(client, agent_email)
    for method, path in (
        ("POST", "/v1/publishable-keys"),
        ("GET", "/v1/publishable-keys"),
        ("POST", f"/v1/publishable-keys/{created['id']}/revoke"),
    ):
        body = {"name": "x", "scopes": ["intake:support"], "allowed_origins": [ORIGIN]}
        response = await client.request(method, path, json=body, headers=auth(agent))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["type"] == "/problems/scope-missing"
    other = await make_tenant(app)
    foreign = await client.get(f"/v1/publishable-keys/{created['id']}", headers=other.headers)
    assert foreign.status_code == 404
