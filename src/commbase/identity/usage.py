"""Credential usage (last used, request counts) counted without a write per request.

Each authenticated request bumps an in-memory (or Redis) counter; the
``identity.flush_usage`` job writes the totals to the database every minute,
and the app flushes once more on shutdown.
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
    async def touch(self, credential_id: str) -> None: ...
    async def drain(self) -> dict[str, Usage]: ...


class MemoryUsageTracker:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    async def touch(self, credential_id: str) -> None:
        self._counts[credential_id] = self._counts.get(credential_id, 0) + 1
        self._last[credential_id] = time.time()

    async def drain(self) -> dict[str, Usage]:
        counts, last = self._counts, self._last
        self._counts, self._last = {}, {}
        return {
            key: Usage(count, datetime.fromtimestamp(last[key], UTC))
            for key, count in counts.items()
        }


class RedisUsageTracker:
    """Counters in two Redis hashes, drained atomically by renaming them."""

    def __init__(self, redis: Redis, *, namespace: str = "cb:usage:") -> None:
        self.redis = redis
        self.counts_key = namespace + "count"
        self.last_key = namespace + "last"

    async def touch(self, credential_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.counts_key, credential_id, 1)
            pipe.hset(self.last_key, credential_id, str(time.time()))
            await pipe.execute()

    async def drain(self) -> dict[str, Usage]:
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
