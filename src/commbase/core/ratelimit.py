"""Fixed-window rate limiting, in-process or in Redis, with IETF RateLimit headers.

A window is ``[start, start + window_s)`` aligned to the epoch, as in the
Ringez ``rate_limits`` collection (``key``, ``count``, ``limit``,
``window_start``). Headers follow draft-ietf-httpapi-ratelimit-headers:

    RateLimit-Policy: "standard";q=600;w=60
    RateLimit: "standard";r=599;t=42

With Redis the counters are shared by every API process. While Redis is away
(its ``RedisBreaker`` is open) each process counts in memory instead, so during
an outage a limit applies per process; the shared counters are used again as
soon as Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter
from redis.asyncio import Redis

from commbase.core.breaker import RedisBreaker, RedisUnavailable

RATE_LIMITED = Counter("commbase_rate_limited_total", "Requests refused with 429", ["policy"])


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    policy: str
    limit: int
    window_s: int


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    rule: RateLimitRule
    allowed: bool
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        rule = self.rule
        out = {
            "RateLimit-Policy": f'"{rule.policy}";q={rule.limit};w={rule.window_s}',
            "RateLimit": f'"{rule.policy}";r={self.remaining};t={self.reset_s}',
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset_s)
        return out


class RateLimiter(Protocol):
    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult: ...
    async def reset(self, key: str, rule: RateLimitRule) -> None: ...


def _window(rule: RateLimitRule, now: float) -> tuple[int, int]:
    start = int(now // rule.window_s) * rule.window_s
    return start, max(1, math.ceil(start + rule.window_s - now))


def _result(rule: RateLimitRule, count: int, reset_s: int) -> RateLimitResult:
    allowed = count <= rule.limit
    if not allowed:
        RATE_LIMITED.labels(rule.policy).inc()
    return RateLimitResult(
        rule=rule, allowed=allowed, remaining=max(0, rule.limit - count), reset_s=reset_s
    )


class MemoryRateLimiter:
    """Counters in this process: right for a single API process."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = asyncio.Lock()
        self._last_sweep = 0.0

    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult:
        now = time.time()
        start, reset_s = _window(rule, now)
        async with self._lock:
            if now - self._last_sweep > 60:
                self._sweep(now)
            slot = (f"{rule.policy}:{rule.window_s}:{key}", start)
            count = self._counts.get(slot, 0) + 1
            self._counts[slot] = count
        return _result(rule, count, reset_s)

    async def reset(self, key: str, rule: RateLimitRule) -> None:
        start, _ = _window(rule, time.time())
        async with self._lock:
            self._counts.pop((f"{rule.policy}:{rule.window_s}:{key}", start), None)

    def _sweep(self, now: float) -> None:
        # Drop windows that ended; the window length is encoded in the key.
        self._last_sweep = now
        for slot in list(self._counts):
            name, start = slot
            window_s = int(name.split(":", 2)[1])
            if start + window_s <= now:
                del self._counts[slot]


# One command per request (EVALSHA), atomic like the MULTI/INCR/EXPIRE/EXEC it
# replaces, at half its client CPU: the window's counter, expiring after the window.
_COUNT = """
local counted = redis.call('INCR', KEYS[1])
if counted == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return counted
"""


class RedisRateLimiter:
    """Counters in Redis, shared by every API process; in memory while Redis is away."""

    def __init__(
        self, redis: Redis, *, namespace: str = "cb:rl:", breaker: RedisBreaker | None = None
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self._breaker = breaker or RedisBreaker(redis)
        self._fallback = MemoryRateLimiter()
        self._count = redis.register_script(_COUNT)

    def _key(self, key: str, rule: RateLimitRule, start: int) -> str:
        return f"{self._ns}{rule.policy}:{rule.window_s}:{key}:{start}"

    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult:
        start, reset_s = _window(rule, time.time())
        redis_key = self._key(key, rule, start)

        async def count() -> int:
            return int(await self._count(keys=[redis_key], args=[rule.window_s + 1]))

        try:
            return _result(rule, await self._breaker.call("ratelimit", count), reset_s)
        except RedisUnavailable:
            return await self._fallback.hit(key, rule)

    async def reset(self, key: str, rule: RateLimitRule) -> None:
        start, _ = _window(rule, time.time())
        await self._fallback.reset(key, rule)
        with contextlib.suppress(RedisUnavailable):
            await self._breaker.call(
                "ratelimit", lambda: self._redis.delete(self._key(key, rule, start))
            )
