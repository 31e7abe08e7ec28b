"""A small key-value cache: in-process by default, Redis when configured.

Values are bytes. Both backends expire entries after their TTL; the in-process
one also evicts the oldest entries past ``max_entries``.

The Redis cache can keep a short-lived in-process tier in front (``local_ttl_s``),
so a hot key costs no round trip. A delete is published on a Redis channel and
every process drops its local copy on hearing it; if a message were lost (a
dropped connection), a local copy still lives at most ``local_ttl_s``.

While Redis is away (its ``RedisBreaker`` is open) the cache keeps serving from
the local tier alone, entries living at most ``local_ttl_s``; without a local
tier every lookup is a miss. A delete made then cannot reach Redis, so the entry
would outlive it there: every entry carries the cache's epoch, and a process that
sees Redis again bumps the epoch (and tells every process to empty its local
tier) before using Redis, so nothing written before an outage is served after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict
from typing import Any, Protocol

import orjson
import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from commbase.core.breaker import RedisBreaker, RedisUnavailable

CACHE_REQUESTS = Counter("commbase_cache_requests_total", "Cache lookups", ["cache", "result"])
log = structlog.get_logger("commbase.cache")


class Cache(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """A per-process LRU cache with TTLs."""

    def __init__(
        self, *, name: str = "default", max_entries: int = 50_000, count: bool = True
    ) -> None:
        self.name = name
        self._max_entries = max_entries
        self._count = count
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            if item is not None:
                del self._items[key]
            if self._count:
                CACHE_REQUESTS.labels(self.name, "miss").inc()
            return None
        self._items.move_to_end(key)
        if self._count:
            CACHE_REQUESTS.labels(self.name, "hit").inc()
        return item[1]

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        self._items[key] = (time.monotonic() + ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max_entries:
            self._items.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._items.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        self._items.clear()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.clear()


class RedisCache:
    """A cache shared by every process that points at the same Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        name: str = "default",
        namespace: str = "cb:cache:",
        local_ttl_s: float = 0.0,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self.name = name
        self._redis = redis
        self._ns = namespace
        self._local_ttl_s = local_ttl_s
        # The local tier's hits count as this cache's hits; only a miss in both is a miss.
        self._local = MemoryCache(name=name, count=False) if local_ttl_s > 0 else None
        self._channel = namespace + "invalidations"
        self._epoch_key = namespace + "__epoch__"
        self._epoch = b"0"  # as last read from Redis
        self._origin = uuid.uuid4().hex
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = False
        self._own_breaker = breaker is None
        self._breaker = breaker or RedisBreaker(redis)
        self._breaker.on_recovery(self._after_outage)

    @property
    def _tiered(self) -> bool:
        # Normally the local tier is used only while deletes are heard; while Redis
        # is away it is all there is (its entries still live at most local_ttl_s).
        return self._local is not None and (self._subscribed or not self._breaker.available)

    async def get(self, key: str) -> bytes | None:
        if self._tiered:
            assert self._local is not None
            hit = await self._local.get(key)
            if hit is not None:
                CACHE_REQUESTS.labels(self.name, "hit").inc()
                return hit
        try:
            entry, epoch = await self._breaker.call(
                "cache", lambda: self._redis.mget(self._ns + key, self._epoch_key)
            )
        except RedisUnavailable:
            CACHE_REQUESTS.labels(self.name, "miss").inc()
            return None
        self._epoch = _as_bytes(epoch) or b"0"
        found = self._unwrap(_as_bytes(entry))
        CACHE_REQUESTS.labels(self.name, "miss" if found is None else "hit").inc()
        if found is not None and self._tiered:
            assert self._local is not None
            await self._local.set(key, found, ttl_s=self._local_ttl_s)
        return found

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        entry = self._epoch + b":" + value
        with contextlib.suppress(RedisUnavailable):
            await self._breaker.call(
                "cache",
                lambda: self._redis.set(self._ns + key, entry, px=max(1, int(ttl_s * 1000))),
            )
        if self._tiered:
            assert self._local is not None
            await self._local.set(key, value, ttl_s=min(ttl_s, self._local_ttl_s))

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        if self._local is not None:
            await self._local.delete(*keys)

        async def delete_and_announce() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(*(self._ns + key for key in keys))
                if self._local is not None:
                    message = orjson.dumps({"origin": self._origin, "keys": list(keys)})
                    pipe.publish(self._channel, message)
                await pipe.execute()

        # Redis away: the entries stay there, and the epoch bump that comes before
        # Redis is used again makes them unreadable.
        with contextlib.suppress(RedisUnavailable):
            await self._breaker.call("cache", delete_and_announce)

    def _unwrap(self, entry: bytes | None) -> bytes | None:
        """The value of an entry written in the current epoch; None for older ones."""
        if entry is None:
            return None
        epoch, separator, value = entry.partition(b":")
        return value if separator and epoch == self._epoch else None

    async def _after_outage(self) -> None:
        """Before Redis serves again: no entry written before now is trusted, in any
        process (deletes made during the outage never reached Redis), and every
        process empties its local tier (the deletes it did not hear)."""
        self._epoch = str(await self._redis.incr(self._epoch_key)).encode()
        if self._local is not None:
            self._local.clear()
            message = orjson.dumps({"origin": self._origin, "flush": True})
            await self._redis.publish(self._channel, message)

    async def start(self) -> None:
        """Listen for other processes' deletes (only with a local tier).

        If Redis is down the process still starts; the listener keeps trying, and
        until it is subscribed only an outage's fallback keeps anything locally.
        """
        if self._local is None or self._listener is not None:
            return
        pubsub: Any = self._redis.pubsub()
        try:
            await asyncio.wait_for(pubsub.subscribe(self._channel), timeout=2.0)
            self._subscribed = True
        except Exception as exc:
            log.warning("cache invalidations not subscribed yet", error=str(exc))
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            pubsub = None
        self._listener = asyncio.create_task(self._listen(pubsub))

    async def _listen(self, pubsub: Any) -> None:
        assert self._local is not None
        while True:
            try:
                if pubsub is None:
                    pubsub = self._redis.pubsub()
                    await pubsub.subscribe(self._channel)
                    # Deletes published while unsubscribed were not heard.
                    self._local.clear()
                    self._subscribed = True
                    log.warning("cache invalidations subscribed again")
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                data = orjson.loads(message["data"])
                if data.get("origin") == self._origin:
                    continue
                if data.get("flush"):
                    self._local.clear()
                else:
                    await self._local.delete(*data.get("keys", []))
            except asyncio.CancelledError:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                raise
            except Exception as exc:  # dropped connection: forget local copies, resubscribe
                if self._subscribed:  # once per disconnection, not per retry
                    log.warning("cache invalidation listener lost Redis", error=str(exc))
                    self._subscribed = False
                    self._local.clear()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                pubsub = None
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._own_breaker:
            await self._breaker.close()


def _as_bytes(value: bytes | str | int | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()
