"""API keys: shown once, hashed at rest, scoped, IP-restricted, expiring, revocable,
rotatable with a grace period, and usage counted without a write per request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from commbase.app import create_app
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.roles import Role
from commbase.settings import Settings
from tests.conftest import client_for
from tests.identity.factories import (
    add_member,
    auth,
    create_key,
    login,
    make_tenant,
    run_operator_job,
)


async def test_secret_is_shown_once_and_stored_only_as_hmac(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await create_key(client, tenant.api_key, name="ci", environment="test")
    secret = str(created["key"])
    assert secret.startswith("cb_test_")
    assert created["prefix"] == secret[:12]

    listed = await client.get("/v1/api-keys", headers=tenant.headers)
    assert secret not in listed.text
    one = await client.get(f"/v1/api-keys/{created['id']}", headers=tenant.headers)
    assert one.status_code == 200
    assert "key" not in one.json()
    assert one.json()["prefix"] == secret[:12]

    async with app.state.db.sessionmaker() as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.id == created["id"]))
    assert stored is not None
    assert secret not in (stored.key_hash, stored.prefix)
    assert len(stored.key_hash) == 64

    me = await client.get("/v1/me", headers=auth(secret))
    assert me.status_code == 200
    assert me.json()["principal"]["key"]["environment"] == "test"
    assert me.json()["principal"]["livemode"] is False


async def test_malformed_and_unknown_keys_are_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    mangled = tenant.api_key[:-1] + ("A" if tenant.api_key[-1] != "A" else "B")
    for token in (mangled, "cb_live_short", "not-a-token", tenant.api_key + "x"):
        response = await client.get("/v1/me", headers=auth(token))
        assert response.status_code == 401, token
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/invalid-credentials"
    missing = await client.get("/v1/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")


async def test_scopes_are_enforced(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    narrow = await create_key(client, tenant.api_key, scopes=["org:read"])
    token = str(narrow["key"])
    assert (await client.get("/v1/organizations/current", headers=auth(token))).status_code == 200
    refused = await client.get("/v1/api-keys", headers=auth(token))
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/scope-missing"
    assert refused.json()["required"] == ["api_keys:read"]
    patch = await client.patch(
        "/v1/organizations/current", json={"name": "Renamed"}, headers=auth(token)
    )
    assert patch.status_code == 403
    org = await client.get("/v1/organizations/current", headers=tenant.headers)
    assert org.json()["name"] != "Renamed"


async def test_a_key_never_holds_more_than_its_creator(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    limited = await create_key(client, tenant.api_key, scopes=["api_keys:write", "org:read"])
    escalate = await client.post(
        "/v1/api-keys",
        json={"name": "escalated", "scopes": ["users:write"]},
        headers=auth(str(limited["key"])),
    )
    assert escalate.status_code == 403
    assert escalate.json()["scopes"] == ["users:write"]
    default = await create_key(client, str(limited["key"]))
    assert sorted(default["scopes"]) == ["api_keys:write", "org:read"]

    # A key shrinks with its creator: an admin demoted to viewer loses write access.
    _, admin_email = await add_member(app, tenant, role=Role.ADMIN)
    admin_session = await login(client, admin_email)
    admin_key = str((await create_key(client, admin_session))["key"])
    members = (await client.get("/v1/members", headers=tenant.headers)).json()["data"]
    admin_member = next(m for m in members if m["user"]["email"] == admin_email)
    assert (
        await client.post(
            "/v1/agent-sessions",
            json={"agent_context": {"agent_id": "bot"}},
            headers=auth(admin_key),
        )
    ).status_code == 201
    demote = await client.patch(
        f"/v1/members/{admin_member['id']}", json={"role": "viewer"}, headers=tenant.headers
    )
    assert demote.status_code == 200
    after = await client.post(
        "/v1/agent-sessions", json={"agent_context": {"agent_id": "bot"}}, headers=auth(admin_key)
    )
    assert after.status_code == 403
    assert (
        await client.get("/v1/organizations/current", headers=auth(admin_key))
    ).status_code == 200


async def test_ip_allowlist(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key, allowed_ips=["203.0.113.0/24"])
    token = str(key["key"])
    assert key["allowed_ips"] == ["203.0.113.0/24"]

    async with client_for(app, ip="203.0.113.40") as inside:
        assert (await inside.get("/v1/me", headers=auth(token))).status_code == 200
    async with client_for(app, ip="198.51.100.7") as outside:
        refused = await outside.get("/v1/me", headers=auth(token))
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/ip-not-allowed"
        # An untrusted peer cannot claim an allowed address with X-Forwarded-For.
        spoofed = await outside.get(
            "/v1/me", headers={**auth(token), "X-Forwarded-For": "203.0.113.40"}
        )
        assert spoofed.status_code == 403
    # Behind a trusted proxy (127.0.0.1 by default) the forwarded address counts.
    via_proxy = await client.get(
        "/v1/me", headers={**auth(token), "X-Forwarded-For": "203.0.113.41"}
    )
    assert via_proxy.status_code == 200


async def test_expiry(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime.now(UTC))
    with use_clock(clock):
        expires = (clock.now() + timedelta(hours=1)).isoformat()
        key = await create_key(client, tenant.api_key, expires_at=expires)
        token = str(key["key"])
        assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
        clock.advance(3601)
        expired = await client.get("/v1/me", headers=auth(token))
        assert expired.status_code == 401
        shown = await client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers)
        assert shown.json()["status"] == "expired"
        past = await client.post(
            "/v1/api-keys",
            json={"name": "late", "expires_at": "2000-01-01T00:00:00Z"},
            headers=tenant.headers,
        )
        assert past.status_code == 422


async def test_revocation_is_immediate(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    token = str(key["key"])
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200  # now cached
    revoked = await client.post(f"/v1/api-keys/{key['id']}/revoke", headers=tenant.headers)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
    rotate = await client.post(f"/v1/api-keys/{key['id']}/rotate", headers=tenant.headers)
    assert rotate.status_code == 409
    log = await client.get("/v1/audit-log?action=api_key.revoked", headers=tenant.headers)
    assert [e["target_id"] for e in log.json()["data"]] == [key["id"]]


@pytest.mark.parametrize("grace", [3600, 0])
async def test_rotation_grace_period(app: FastAPI, client: httpx.AsyncClient, grace: int) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime.now(UTC))
    with use_clock(clock):
        key = await create_key(client, tenant.api_key)
        old = str(key["key"])
        assert (await client.get("/v1/me", headers=auth(old))).status_code == 200
        rotated = await client.post(
            f"/v1/api-keys/{key['id']}/rotate",
            json={"grace_period_s": grace},
            headers=tenant.headers,
        )
        assert rotated.status_code == 200
        new = rotated.json()["key"]
        assert new != old
        assert rotated.json()["prefix"] == new[:12]
        assert (await client.get("/v1/me", headers=auth(new))).status_code == 200
        expected_old = 200 if grace else 401
        assert (await client.get("/v1/me", headers=auth(old))).status_code == expected_old
        clock.advance(grace + 1)
        assert (await client.get("/v1/me", headers=auth(old))).status_code == 401
        assert (await client.get("/v1/me", headers=auth(new))).status_code == 200


async def test_usage_is_counted_and_flushed(app: FastAPI, client: httpx.AsyncClient) -> None:
    await app.state.usage.close()  # only the job writes here, not the periodic writer
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    token = str(key["key"])
    session_token = await login(client, tenant.owner_email)
    for _ in range(3):
        assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
    owner_before = (await client.get("/v1/me", headers=auth(session_token))).json()["user"]
    before = await client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers)
    assert before.json()["total_requests"] == 0  # nothing written per request
    flushed = await run_operator_job(app, "identity.flush_usage")
    assert flushed.status == "succeeded"
    after = await client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers)
    assert after.json()["total_requests"] == 3
    assert after.json()["last_used_at"] is not None
    assert after.json()["first_used_at"] is not None
    # Being used is not being changed: updated_at stays where the last change put it.
    owner_after = (await client.get("/v1/me", headers=auth(session_token))).json()["user"]
    assert owner_after["last_activity_at"] is not None
    assert owner_after["updated_at"] == owner_before["updated_at"]


async def test_update_and_unknown_tier(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    updated = await client.patch(
        f"/v1/api-keys/{key['id']}",
        json={"name": "renamed", "rate_limit_tier": "free", "max_concurrent_calls": 3},
        headers=tenant.headers,
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "renamed"
    assert updated.json()["rate_limit_tier"] == "free"
    me = await client.get("/v1/me", headers=auth(str(key["key"])))
    # A key's tier applies up to its organization's account type (standard here; a
    # higher tier is capped: tests/identity/test_account_types.py).
    assert me.headers["ratelimit-policy"].startswith('"free"')
    bad = await client.patch(
        f"/v1/api-keys/{key['id']}", json={"rate_limit_tier": "gold"}, headers=tenant.headers
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "rate_limit_tier"


async def test_revocation_reaches_every_process_at_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Two API processes share Redis: a key revoked through one stops working on the
    other too, though the other had it in its in-process cache."""
    if settings.redis_url is None:
        pytest.skip("processes share a cache only through Redis")
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    token = str(key["key"])
    other = create_app(settings)
    async with LifespanManager(other), client_for(other) as second:
        assert (await second.get("/v1/me", headers=auth(token))).status_code == 200  # cached
        revoked = await client.post(f"/v1/api-keys/{key['id']}/revoke", headers=tenant.headers)
        assert revoked.status_code == 200
        deadline = asyncio.get_running_loop().time() + 5
        status = 200
        while status == 200 and asyncio.get_running_loop().time() < deadline:
            status = (await second.get("/v1/me", headers=auth(token))).status_code
            await asyncio.sleep(0.02)
        assert status == 401
