"""A small key-value cache: in-process by default, Redis when configured.

Values are bytes. Both backends expire entries after their TTL; the in-process
one also evicts the oldest entries past ``max_entries``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from prometheus_client import Counter
from redis.asyncio import Redis

CACHE_REQUESTS = Counter("commbase_cache_requests_total", "Cache lookups", ["cache", "result"])


class Cache(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """A per-process LRU cache with TTLs."""

    def __init__(self, *, name: str = "default", max_entries: int = 50_000) -> None:
        self.name = name
        self._max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            if item is not None:
                del self._items[key]
            CACHE_REQUESTS.labels(self.name, "miss").inc()
            return None
        self._items.move_to_end(key)
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

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    """A cache shared by every process that points at the same Redis."""

    def __init__(
        self, redis: Redis, *, name: str = "default", namespace: str = "cb:cache:"
    ) -> None:
        self.name = name
        self._redis = redis
        self._ns = namespace

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._ns + key)
        CACHE_REQUESTS.labels(self.name, "miss" if value is None else "hit").inc()
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        await self._redis.set(self._ns + key, value, px=max(1, int(ttl_s * 1000)))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._ns + key for key in keys))

    async def close(self) -> None:
        return None
