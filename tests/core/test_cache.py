"""The key-value cache: the same behaviour in-process and in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from commbase.core import cache as cache_module
from commbase.core.cache import Cache, MemoryCache, RedisCache
from tests.conftest import make_settings
from tests.core.conftest import running_app


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
async def cache(backend: str, redis_client: Redis | None) -> AsyncIterator[Cache]:
    if backend == "memory":
        store: Cache = MemoryCache(name="test")
    else:
        assert redis_client is not None
        store = RedisCache(redis_client, name="test")
    yield store
    await store.close()


def lookups(result: str) -> float:
    value = REGISTRY.get_sample_value(
        "commbase_cache_requests_total", {"cache": "test", "result": result}
    )
    return value or 0.0


async def test_set_get_delete(cache: Cache) -> None:
    assert await cache.get("greeting") is None

    await cache.set("greeting", b"hello", ttl_s=60)
    await cache.set("other", b"\x00\xffbytes", ttl_s=60)
    assert await cache.get("greeting") == b"hello"
    assert await cache.get("other") == b"\x00\xffbytes"

    await cache.set("greeting", b"replaced", ttl_s=60)
    assert await cache.get("greeting") == b"replaced"

    await cache.delete("greeting", "other", "never-set")
    assert await cache.get("greeting") is None
    assert await cache.get("other") is None
    await cache.delete()  # deleting nothing is allowed


async def test_hits_and_misses_are_counted(cache: Cache) -> None:
    hits, misses = lookups("hit"), lookups("miss")

    await cache.get("absent")
    await cache.set("present", b"1", ttl_s=60)
    await cache.get("present")
    await cache.get("present")

    assert lookups("hit") - hits == 2
    assert lookups("miss") - misses == 1


async def test_entries_expire_after_their_ttl(
    cache: Cache, redis_client: Redis | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeMonotonic()
    monkeypatch.setattr(cache_module, "time", clock)

    await cache.set("short", b"1", ttl_s=30)
    await cache.set("long", b"2", ttl_s=300)
    assert await cache.get("short") == b"1"

    if redis_client is None:
        clock.now += 31
        assert await cache.get("short") is None
        assert await cache.get("long") == b"2"
    else:
        # Redis expires keys on its own clock; check the TTLs it was given.
        short_ms = await redis_client.pttl("cb:cache:short")
        long_ms = await redis_client.pttl("cb:cache:long")
        assert 29_000 < short_ms <= 30_000
        assert 299_000 < long_ms <= 300_000


async def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(name="test", max_entries=2)
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    assert await cache.get("a") == b"1"  # a is now the most recently used

    await cache.set("c", b"3", ttl_s=60)

    assert await cache.get("b") is None
    assert await cache.get("a") == b"1"
    assert await cache.get("c") == b"3"


async def test_redis_cache_is_shared_between_instances(
    backend: str, redis_client: Redis | None
) -> None:
    if redis_client is None:
        pytest.skip("an in-process cache is not shared")
    first, second = RedisCache(redis_client, name="test"), RedisCache(redis_client, name="test")

    await first.set("shared", b"value", ttl_s=60)
    assert await second.get("shared") == b"value"
    await second.delete("shared")
    assert await first.get("shared") is None


async def test_configuration_chooses_the_backends(database_url: str, redis_url: str | None) -> None:
    async with running_app(make_settings(database_url, redis_url)) as app:
        if redis_url is None:
            expected = ("MemoryCache", "MemoryRateLimiter", "DatabaseLease")
        else:
            expected = ("RedisCache", "RedisRateLimiter", "RedisLease")
        chosen = (
            type(app.state.cache).__name__,
            type(app.state.rate_limiter).__name__,
            type(app.state.lease).__name__,
        )
        assert chosen == expected


async def _eventually(check: object, *, seconds: float = 5.0) -> bool:
    """Poll ``check`` (an async callable) until it is true; pub/sub is asynchronous."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_local_tier_serves_repeats_and_hears_other_processes_deletes(
    redis_client: Redis | None,
) -> None:
    if redis_client is None:
        pytest.skip("the Redis backend is tested when COMMBASE_TEST_REDIS_URL is set")
    first = RedisCache(redis_client, name="test", local_ttl_s=30)
    second = RedisCache(redis_client, name="test", local_ttl_s=30)
    await first.start()
    await second.start()
    try:
        await first.set("principal", b"v1", ttl_s=60)
        assert await second.get("principal") == b"v1"  # now in second's local tier
        # Behind second's back the shared value changes: its local copy still answers...
        await redis_client.set("cb:cache:principal", b"v2")
        assert await second.get("principal") == b"v1"
        # ...until someone deletes the key: every process hears it and drops its copy.
        await first.delete("principal")

        async def forgotten() -> bool:
            return await second.get("principal") is None

        assert await _eventually(forgotten)
    finally:
        await first.close()
        await second.close()
