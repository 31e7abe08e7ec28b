"""Cached credentials are dropped after the change that ends them commits: a request
that authenticates between the change and its commit cannot keep a revoked key alive."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.app import create_app
from commbase.core.cache import Cache
from commbase.core.http import ClientInfo
from commbase.identity.api_keys import service as api_keys
from commbase.identity.roles import Role
from commbase.settings import Settings
from tests.conftest import client_for
from tests.identity.factories import Tenant, auth, create_key, make_tenant, principal_for

NOWHERE = ClientInfo(None, None, None, None)


class HeldWrites:
    """The authenticator's cache, holding its first write until released."""

    def __init__(self, cache: Cache) -> None:
        self.name = cache.name
        self.cache = cache
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self._held = False

    async def get(self, key: str) -> bytes | None:
        return await self.cache.get(key)

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        if not self._held:
            self._held = True
            self.reached.set()
            await self.release.wait()
        await self.cache.set(key, value, ttl_s=ttl_s)

    async def delete(self, *keys: str) -> None:
        await self.cache.delete(*keys)


async def _revoke_uncommitted(app: FastAPI, tenant: Tenant, key_id: str) -> AsyncSession:
    """A session that has revoked the key (flushed) and not committed yet."""
    session: AsyncSession = app.state.db.sessionmaker()
    row = await api_keys.get_key(session, org_id=tenant.org_id, key_id=key_id)
    owner = principal_for(org_id=tenant.org_id, user_id=tenant.owner_id, role=Role.OWNER)
    await api_keys.revoke_key(session, key=row, actor=owner, client=NOWHERE, cache=app.state.cache)
    return session


async def test_a_request_before_the_commit_does_not_outlive_it(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    token = str(key["key"])
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200  # cached

    session = await _revoke_uncommitted(app, tenant, str(key["id"]))
    try:
        between = asyncio.create_task(client.get("/v1/me", headers=auth(token)))
        postgres = app.state.db.dialect == "postgresql"
        # (SQLite queues the request behind the uncommitted write.)
        done, _ = await asyncio.wait({between}, timeout=2 if postgres else 0.2)
        if postgres:
            # It ran, and read the key as it was, while the revocation was uncommitted.
            assert between in done
        await session.commit()
    finally:
        await session.close()
    assert (await between).status_code == 200  # authenticated before the commit
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401


async def test_a_read_before_the_commit_cached_after_it_is_not_served(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrow race: a request reads the key before the revocation commits but writes
    its cache entry only after the commit's invalidation ran."""
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    token = str(key["key"])
    held = HeldWrites(app.state.authenticator.cache)
    monkeypatch.setattr(app.state.authenticator, "cache", held)

    session = await _revoke_uncommitted(app, tenant, str(key["id"]))
    try:
        racing = asyncio.create_task(client.get("/v1/me", headers=auth(token)))
        # On PostgreSQL the read sees the old row and stops before caching it; SQLite
        # serialises the read after the commit instead.
        if app.state.db.dialect == "postgresql":
            await asyncio.wait_for(held.reached.wait(), timeout=5)
        else:
            await asyncio.wait({racing}, timeout=0.2)
        await session.commit()
    finally:
        await session.close()
    held.release.set()
    assert (await racing).status_code == 401
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 401


async def test_a_rolled_back_revocation_leaves_the_key_working(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    token = str(key["key"])
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
    session = await _revoke_uncommitted(app, tenant, str(key["id"]))
    await session.rollback()
    await session.close()
    assert (await client.get("/v1/me", headers=auth(token))).status_code == 200
    shown = await client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers)
    assert shown.json()["status"] == "active"


async def test_another_process_refuses_the_key_right_after_the_commit(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    if settings.redis_url is None:
        pytest.skip("processes share a cache only through Redis")
    tenant = await make_tenant(app)
    key = await create_key(client, tenant.api_key)
    token = str(key["key"])
    other = create_app(settings)
    async with LifespanManager(other), client_for(other) as second:
        assert (await second.get("/v1/me", headers=auth(token))).status_code == 200  # cached
        session = await _revoke_uncommitted(app, tenant, str(key["id"]))
        try:
            # Between the change and its commit the other process still serves the key...
            assert (await second.get("/v1/me", headers=auth(token))).status_code == 200
            await session.commit()
        finally:
            await session.close()
        # ...and refuses it as soon as the commit's invalidation reaches it.
        loop = asyncio.get_running_loop()
        committed, status = loop.time(), 200
        while status == 200 and loop.time() < committed + 2:
            status = (await second.get("/v1/me", headers=auth(token))).status_code
            await asyncio.sleep(0.01)
        assert status == 401
        assert (await client.get("/v1/me", headers=auth(token))).status_code == 401
