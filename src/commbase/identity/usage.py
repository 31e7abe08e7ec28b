"""Credential usage (last used, request counts) counted without a write per request.

Every process counts in memory. Without Redis, the ``identity.flush_usage``
job writes those counts to the database every minute (and the app once more on
shutdown). With Redis, each process pushes its counts into two shared hashes at
most once a second — one pipelined round trip, not one per request — and the
job, run by whichever process leads, drains the hashes into the database.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis

_TAKE = """
for i = 1, 2 do
  if redis.call('exists', KEYS[i]) == 1 then redis.call('rename', KEYS[i], KEYS[i + 2]) end
end
return 1
"""


@dataclass
class Usage:
    count: int
    last_used: datetime


class UsageTracker(Protocol):
    async def touch(self, *ids: str) -> None: ...
    async def drain(self) -> dict[str, Usage]: ...


class MemoryUsageTracker:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    async def touch(self, *ids: str) -> None:
        now = time.time()
        for key in ids:
            self._counts[key] = self._counts.get(key, 0) + 1
            self._last[key] = now

    def take(self) -> tuple[dict[str, int], dict[str, float]]:
        counts, last = self._counts, self._last
        self._counts, self._last = {}, {}
        return counts, last

    async def drain(self) -> dict[str, Usage]:
        counts, last = self.take()
        return {
            key: Usage(count, datetime.fromtimestamp(last[key], UTC))
            for key, count in counts.items()
        }


class RedisUsageTracker:
    """In-memory counts, pushed to Redis hashes at most every ``push_every_s``."""

    def __init__(
        self, redis: Redis, *, namespace: str = "cb:usage:", push_every_s: float = 1.0
    ) -> None:
        self.redis = redis
        self.counts_key = namespace + "count"
        self.last_key = namespace + "last"
        self.push_every_s = push_every_s
        self._local = MemoryUsageTracker()
        self._pushed_at = time.monotonic()

    async def touch(self, *ids: str) -> None:
        await self._local.touch(*ids)
        if time.monotonic() - self._pushed_at >= self.push_every_s:
            await self.push()

    async def push(self) -> None:
        """Add this process's counts to the shared hashes."""
        self._pushed_at = time.monotonic()
        counts, last = self._local.take()
        if not counts:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, count in counts.items():
                pipe.hincrby(self.counts_key, key, count)
            pipe.hset(self.last_key, mapping={k: str(v) for k, v in last.items()})
            await pipe.execute()

    async def drain(self) -> dict[str, Usage]:
        await self.push()
        suffix = uuid.uuid4().hex
        counts_tmp, last_tmp = f"{self.counts_key}:{suffix}", f"{self.last_key}:{suffix}"
        await self.redis.eval(_TAKE, 4, self.counts_key, self.last_key, counts_tmp, last_tmp)
        counts = await self.redis.hgetall(counts_tmp)
        last = await self.redis.hgetall(last_tmp)
        await self.redis.delete(counts_tmp, last_tmp)
        out = {}
        for raw_key, raw_count in counts.items():
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            stamp = last.get(raw_key) or last.get(key.encode())
            when = float(stamp) if stamp is not None else time.time()
            out[key] = Usage(int(raw_count), datetime.fromtimestamp(when, UTC))
        return out
