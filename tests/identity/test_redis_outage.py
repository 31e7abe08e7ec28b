"""Two API processes keep serving while their Redis is away: authentication from the
database, rate limits per process, usage counts kept, revocations honoured during
and after the outage. Each test runs its own ``redis-server`` and stops it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from commbase.core import ratelimit
from commbase.core.db import Database
from commbase.identity.usage import UsageTracker
from commbase.settings import DEFAULT_TIERS
from tests.conftest import client_for, make_settings
from tests.core.conftest import NOW_IN_WINDOW, FakeTime, running_app
from tests.identity.factories import PASSWORD, Tenant, auth, create_key, make_tenant
from tests.redis_server import RedisServer

LOCAL_TTL_S = 5.0  # the app's local tier (app.py): the bound on a missed revocation
TIERS = {**DEFAULT_TIERS, "tiny": {"limit": 3, "window_s": 60}}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.close()


class Process:
    """One API process under test: its app and a client of it."""

    def __init__(self, app: FastAPI, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http


@pytest.fixture
async def processes(database_url: str, redis_server: RedisServer) -> AsyncIterator[list[Process]]:
    """Two API processes on the same database and the private Redis."""
    settings = make_settings(
        database_url,
        redis_server.url,
        rate_limit_tiers=TIERS,
        usage_flush_s=0.2,
        redis_timeout_s=0.5,
    )
    async with AsyncExitStack() as stack:
        found = []
        for _ in range(2):
            app = await stack.enter_async_context(running_app(settings))
            found.append(Process(app, await stack.enter_async_context(client_for(app))))
        yield found


async def redis_back(*processes: Process) -> None:
    """Wait until every process uses Redis again."""
    deadline = time.monotonic() + 5
    while not all(p.app.state.redis_breaker.available for p in processes):
        assert time.monotonic() < deadline, "the breakers did not close after Redis came back"
        await asyncio.sleep(0.02)


async def me(process: Process, token: str) -> int:
    return (await process.http.get("/v1/me", headers=auth(token))).status_code


async def test_authenticated_reads_and_writes_keep_succeeding_while_redis_is_away(
    processes: list[Process], redis_server: RedisServer
) -> None:
    first, second = processes
    tenant = await make_tenant(first.app)
    key = await create_key(first.http, tenant.api_key)
    token = str(key["key"])
    assert await me(first, token) == 200

    redis_server.stop()
    for process in processes:
        assert await me(process, token) == 200
        assert await me(process, tenant.api_key) == 200
        created = await process.http.post(
            "/v1/contacts", json={"name": "Ada Lovelace"}, headers=auth(token)
        )
        assert created.status_code == 201, created.text
        shown = await process.http.get(
            f"/v1/contacts/{created.json()['id']}", headers=tenant.headers
        )
        assert shown.status_code == 200
        assert shown.json()["name"] == "Ada Lovelace"
    # A login session is checked the same way.
    login = await second.http.post(
        "/v1/auth/login", json={"email": tenant.owner_email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert await me(first, login.json()["token"]) == 200
    assert not first.app.state.redis_breaker.available

    redis_server.start()
    await redis_back(first, second)
    listed = await second.http.get("/v1/contacts", headers=auth(token))
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["data"]] == ["Ada Lovelace"] * 2


@pytest.mark.parametrize("keep_data", [False, True], ids=["emptied", "kept"])
async def test_a_key_revoked_during_the_outage_is_refused_by_every_process(
    processes: list[Process], redis_server: RedisServer, keep_data: bool
) -> None:
    first, second = processes
    tenant = await make_tenant(first.app)
    key = await create_key(first.http, tenant.api_key)
    token = str(key["key"])
    # Both processes have the key in Redis and in their local tier.
    assert [await me(first, token), await me(second, token)] == [200, 200]
    probe = Redis.from_url(redis_server.url)
    assert await probe.keys("cb:cache:auth:*")
    await probe.aclose()

    redis_server.stop(keep_data=keep_data)
    assert await me(second, token) == 200  # read from the database, kept locally
    revoked = await first.http.post(f"/v1/api-keys/{key['id']}/revoke", headers=tenant.headers)
    assert revoked.status_code == 200, revoked.text
    revoked_at = time.monotonic()
    assert await me(first, token) == 401
    # The other process cannot hear of it: its local copy lives out its short TTL.
    while await me(second, token) == 200:
        assert time.monotonic() - revoked_at < LOCAL_TTL_S + 1.0
        await asyncio.sleep(0.05)
    assert await me(second, token) == 401

    redis_server.start()
    await redis_back(first, second)
    if keep_data:
        # Redis came back with the entry cached before the outage: not trusted.
        probe = Redis.from_url(redis_server.url)
        assert await probe.keys("cb:cache:auth:*")
        await probe.aclose()
    assert [await me(first, token), await me(second, token)] == [401, 401]
    assert await me(second, tenant.api_key) == 200  # other keys still work


async def test_rate_limits_still_apply_while_redis_is_away(
    processes: list[Process], redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "time", FakeTime(NOW_IN_WINDOW))  # no window rolls over
    first, second = processes
    tenant = await make_tenant(first.app)
    key = await create_key(first.http, tenant.api_key, rate_limit_tier="tiny")
    token = str(key["key"])

    redis_server.stop()
    statuses = [await me(first, token) for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await first.http.get("/v1/me", headers=auth(token))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "42"
    # Per process while Redis is away: the other process counts its own.
    assert await me(second, token) == 200

    redis_server.start()  # emptied
    await redis_back(first, second)
    # Shared again: three requests in all, from either process.
    assert [await me(first, token), await me(second, token), await me(first, token)] == [200] * 3
    assert await me(second, token) == 429


async def api_key_requests(process: Process, tenant: Tenant, key_id: str) -> int:
    shown = await process.http.get(f"/v1/api-keys/{key_id}", headers=tenant.headers)
    assert shown.status_code == 200
    total: int = shown.json()["total_requests"]
    return total


async def test_usage_counts_survive_a_redis_restart_exactly(
    processes: list[Process], redis_server: RedisServer
) -> None:
    first, second = processes
    tenant = await make_tenant(first.app)
    key = await create_key(first.http, tenant.api_key)
    token = str(key["key"])
    made = 0

    async def requests(process: Process, count: int) -> None:
        nonlocal made
        for _ in range(count):
            assert await me(process, token) == 200
        made += count

    await requests(first, 3)
    await requests(second, 2)
    await asyncio.sleep(0.5)  # both processes have written their counts by now
    assert await api_key_requests(first, tenant, str(key["id"])) == 5

    redis_server.stop()
    await requests(first, 4)
    await requests(second, 3)
    redis_server.start()  # emptied
    await requests(first, 2)
    await redis_back(first, second)
    await requests(second, 1)
    await requests(first, 1)

    for process in processes:  # what each process writes when it stops
        await process.app.state.usage.flush()
    assert await api_key_requests(second, tenant, str(key["id"])) == made == 16


async def test_a_write_that_fails_keeps_the_counts_it_took(
    processes: list[Process], tmp_path: Path
) -> None:
    first, _ = processes
    tenant = await make_tenant(first.app)
    key = await create_key(first.http, tenant.api_key)
    database: Database = first.app.state.db
    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path}/missing/directory/x.db")
    tracker = UsageTracker(unreachable)
    await tracker.touch(str(key["id"]), tenant.owner_id)
    await tracker.touch(str(key["id"]))
    with pytest.raises(Exception, match="unable to open database file"):
        await tracker.flush()
    assert {k: u.count for k, u in tracker.pending().items()} == {
        str(key["id"]): 2,
        tenant.owner_id: 1,
    }
    await tracker.touch(str(key["id"]))
    await unreachable.dispose()

    tracker.database = database
    assert await tracker.flush() == 2
    assert tracker.pending() == {}
    assert await api_key_requests(processes[0], tenant, str(key["id"])) == 3
