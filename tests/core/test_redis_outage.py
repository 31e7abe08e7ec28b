"""Redis away: the cache, rate limits and leases keep answering in-process, and go
back to Redis by themselves when it answers again. Each test runs its own
``redis-server`` and stops, freezes or restarts it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError
from structlog.testing import capture_logs

from commbase.core import jobs
from commbase.core.jobs import Scheduler
from commbase.core.ratelimit import RateLimitRule
from tests.conftest import make_settings
from tests.core.conftest import FakeTime, running_app
from tests.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.close()


@pytest.fixture
async def raw_redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client of the private server, to look at what it holds (reconnecting once,
    as the app's does, after a restart)."""
    client = Redis.from_url(
        redis_server.url, retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,))
    )
    yield client
    await client.aclose()


@pytest.fixture
async def apps(database_url: str, redis_server: RedisServer) -> AsyncIterator[list[FastAPI]]:
    """Two API processes on the same database and the private Redis."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                running_app(make_settings(database_url, redis_server.url, redis_timeout_s=0.5))
            )
            for _ in range(2)
        ]


async def eventually(check: Callable[[], Awaitable[bool]], *, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def redis_back(*apps: FastAPI) -> None:
    """Wait until every app uses Redis again (its breaker probed it and closed)."""

    async def closed() -> bool:
        return all(app.state.redis_breaker.available for app in apps)

    assert await eventually(closed), "the breakers did not close after Redis came back"


def fallbacks(use: str) -> float:
    value = REGISTRY.get_sample_value("commbase_redis_fallbacks_total", {"use": use})
    return value or 0.0


async def test_the_cache_serves_locally_while_redis_is_away_and_trusts_nothing_older_after(
    apps: list[FastAPI], redis_server: RedisServer, raw_redis: Redis
) -> None:
    app, other = apps
    cache = app.state.cache
    await cache.set("k", b"v1", ttl_s=60)
    assert await other.state.cache.get("k") == b"v1"
    before = fallbacks("cache")

    with capture_logs() as logged:
        # Redis stops; it will come back with its data (a restart with persistence).
        redis_server.stop(keep_data=True)
        await cache.delete("k")  # cannot reach Redis: the breaker opens
        assert not app.state.redis_breaker.available
        assert await cache.get("k") is None
        await cache.set("during", b"local", ttl_s=60)
        assert await cache.get("during") == b"local"  # the local tier answers
        assert fallbacks("cache") > before

        redis_server.start()
        await redis_back(app)

    # The entry written before the outage is still in Redis, and the delete made
    # during the outage never reached it; it is not served.
    assert await raw_redis.get("cb:cache:k") is not None
    assert await cache.get("k") is None
    assert await other.state.cache.get("k") is None
    assert await cache.get("during") is None  # local copies went with the outage
    # Shared again.
    await cache.set("k", b"v2", ttl_s=60)
    assert await other.state.cache.get("k") == b"v2"
    events = [entry["event"] for entry in logged if entry["event"].startswith("redis")]
    assert events == [
        "redis unavailable: serving with in-process fallbacks",
        "redis available again",
    ]


async def test_a_frozen_redis_costs_one_short_timeout_then_is_skipped(
    apps: list[FastAPI], redis_server: RedisServer, raw_redis: Redis
) -> None:
    app = apps[0]
    limiter = app.state.rate_limiter
    rule = RateLimitRule("outage", 1000, 3600)
    assert (await limiter.hit("key_x", rule)).allowed

    redis_server.pause()  # accepts connections, never answers
    started = time.monotonic()
    first = await limiter.hit("key_x", rule)
    first_took = time.monotonic() - started
    rest = [await limiter.hit("key_x", rule) for _ in range(50)]
    rest_took = time.monotonic() - started - first_took
    assert first.allowed
    assert all(r.allowed for r in rest)
    # One socket timeout (0.5 s, not redis-py's default 5 s with retries), then
    # Redis is skipped until the breaker's probe finds it answering.
    assert first_took < 2.0
    assert rest_took < 0.5
    assert not app.state.redis_breaker.available

    redis_server.resume()
    await redis_back(app)
    await limiter.hit("key_y", rule)
    assert await raw_redis.keys("cb:rl:outage:3600:key_y:*")


async def test_rate_limits_count_per_process_while_redis_is_away_then_shared_again(
    apps: list[FastAPI], redis_server: RedisServer, limiter_time: FakeTime
) -> None:
    first, second = (app.state.rate_limiter for app in apps)
    rule = RateLimitRule("outage", 3, 60)
    assert (await first.hit("key_a", rule)).remaining == 2

    redis_server.stop()
    # Each process counts on its own from nothing: the limit still applies...
    refused = [(await first.hit("key_a", rule)).allowed for _ in range(4)]
    assert refused == [True, True, True, False]
    # ...per process.
    assert (await second.hit("key_a", rule)).remaining == 2

    redis_server.start()  # emptied
    await redis_back(*apps)
    assert (await first.hit("key_a", rule)).remaining == 2
    assert (await second.hit("key_a", rule)).remaining == 1  # one shared count again
    assert (await first.hit("key_a", rule)).remaining == 0
    assert not (await second.hit("key_a", rule)).allowed


@pytest.mark.parametrize("keep_data", [False, True], ids=["emptied", "kept"])
async def test_after_redis_returns_exactly_one_scheduler_leads(
    apps: list[FastAPI],
    redis_server: RedisServer,
    raw_redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    keep_data: bool,
) -> None:
    monkeypatch.setattr(jobs, "_registry", {})
    schedulers = [Scheduler(app.state.db, app.state.lease, tick_s=15) for app in apps]
    for name, scheduler in zip("ab", schedulers, strict=True):
        scheduler.holder = name
    assert sorted(await asyncio.gather(*(s.lead() for s in schedulers))) == [False, True]
    leader = await raw_redis.get("cb:lease:scheduler")

    redis_server.stop(keep_data=keep_data)
    # Nobody leads while the lease cannot be checked; the ticks go on without error.
    assert [await s.lead() for s in schedulers] == [False, False]
    assert [await s.tick() for s in schedulers] == [[], []]

    redis_server.start()
    await redis_back(*apps)
    assert sorted(await asyncio.gather(*(s.lead() for s in schedulers))) == [False, True]
    holder = await raw_redis.get("cb:lease:scheduler")
    if keep_data:
        assert holder == leader  # the lease survived: its holder renewed it
    # The leader stays the leader.
    for _ in range(3):
        leading = [s.holder.encode() for s in schedulers if await s.lead()]
        assert leading == [holder]
