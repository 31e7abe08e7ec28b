"""A small key-value cache: in-process by default, Redis when configured.

Values are bytes. Both backends expire entries after their TTL; the in-process
one also evicts the oldest entries past ``max_entries``.

The Redis cache can keep a short-lived in-process tier in front (``local_ttl_s``),
so a hot key costs no round trip. A delete is published on a Redis channel and
every process drops its local copy on hearing it; if a message were lost (a
dropped connection), a local copy still lives at most ``local_ttl_s``.
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

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    """A cache shared by every process that points at the same Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        name: str = "default",
        namespace: str = "cb:cache:",
        local_ttl_s: float = 0.0,
    ) -> None:
        self.name = name
        self._redis = redis
        self._ns = namespace
        self._local_ttl_s = local_ttl_s
        # The local tier's hits count as this cache's hits; only a miss in both is a miss.
        self._local = MemoryCache(name=name, count=False) if local_ttl_s > 0 else None
        self._channel = namespace + "invalidations"
        self._origin = uuid.uuid4().hex
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = False

    @property
    def _tiered(self) -> bool:
        return self._local is not None and self._subscribed

    async def get(self, key: str) -> bytes | None:
        if self._tiered:
            assert self._local is not None
            hit = await self._local.get(key)
            if hit is not None:
                CACHE_REQUESTS.labels(self.name, "hit").inc()
                return hit
        value = await self._redis.get(self._ns + key)
        CACHE_REQUESTS.labels(self.name, "miss" if value is None else "hit").inc()
        found = value.encode() if isinstance(value, str) else value
        if found is not None and self._tiered:
            assert self._local is not None
            await self._local.set(key, found, ttl_s=self._local_ttl_s)
        return found

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        await self._redis.set(self._ns + key, value, px=max(1, int(ttl_s * 1000)))
        if self._tiered:
            assert self._local is not None
            await self._local.set(key, value, ttl_s=min(ttl_s, self._local_ttl_s))

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        await self._redis.delete(*(self._ns + key for key in keys))
        if self._local is not None:
            await self._local.delete(*keys)
            message = orjson.dumps({"origin": self._origin, "keys": list(keys)})
            await self._redis.publish(self._channel, message)

    async def start(self) -> None:
        """Listen for other processes' deletes (only with a local tier).

        If Redis is down the process still starts (and reports itself not ready);
        the listener keeps trying, and until it is subscribed nothing is kept
        locally, so nothing stale can be served.
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
                    self._subscribed = True
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                data = orjson.loads(message["data"])
                if data.get("origin") != self._origin:
                    await self._local.delete(*data.get("keys", []))
            except asyncio.CancelledError:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                raise
            except Exception as exc:  # dropped connection: forget local copies, resubscribe
                self._subscribed = False
                await self._local.close()
                log.warning("cache invalidation listener error", error=str(exc))
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
