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
import contextvars
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

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


# One command per hit (EVALSHA), atomic like the MULTI/INCR/EXPIRE/EXEC it
# replaces, at half its client CPU: the window's counter, expiring after the window.
_COUNT = """
local counted = redis.call('INCR', KEYS[1])
if counted == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return counted
"""


class RedisRateLimiter:
    """Counters in Redis, shared by every API process; in memory while Redis is away.

    The hits of one moment (those counted in the same turn of the event loop: a
    busy process starts several requests at once) go to Redis in one pipeline of
    ``EVALSHA`` calls, one round trip, instead of one round trip each; each hit is
    still its own atomic count, answered with its own result or error.
    """

    def __init__(
        self, redis: Redis, *, namespace: str = "cb:rl:", breaker: RedisBreaker | None = None
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self._breaker = breaker or RedisBreaker(redis)
        self._fallback = MemoryRateLimiter()
        self._count = redis.register_script(_COUNT)
        self._batch: list[tuple[str, int, asyncio.Future[int]]] = []
        self._batch_loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def _key(self, key: str, rule: RateLimitRule, start: int) -> str:
        return f"{self._ns}{rule.policy}:{rule.window_s}:{key}:{start}"

    async def hit(self, key: str, rule: RateLimitRule) -> RateLimitResult:
        start, reset_s = _window(rule, time.time())
        redis_key = self._key(key, rule, start)

        async def count() -> int:
            return await self._counted(redis_key, rule.window_s + 1)

        try:
            return _result(rule, await self._breaker.call("ratelimit", count), reset_s)
        except RedisUnavailable:
            return await self._fallback.hit(key, rule)

    def _counted(self, redis_key: str, ttl_s: int) -> asyncio.Future[int]:
        """The count of ``redis_key`` after this hit, sent with this moment's others."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if not self._batch or self._batch_loop is not loop:
            # (A batch left by a loop that stopped before sending it is dropped.)
            self._batch, self._batch_loop = [], loop
            # Outside the request's context: the batch serves several requests.
            loop.call_soon(self._send_batch, context=contextvars.Context())
        self._batch.append((redis_key, ttl_s, future))
        return future

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[str, int, asyncio.Future[int]]]) -> None:
        try:
            if len(batch) == 1:
                redis_key, ttl_s, _ = batch[0]
                results: list[Any] = [await self._count(keys=[redis_key], args=[ttl_s])]
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for redis_key, ttl_s, _ in batch:
                        pipe.evalsha(self._count.sha, 1, redis_key, ttl_s)
                    results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for _, _, future in batch:
                _fail(future, exc)
            if not isinstance(exc, Exception):
                raise
            return  # each waiting hit got the error (the breaker decides what follows)
        for (redis_key, ttl_s, future), result in zip(batch, results, strict=True):
            if isinstance(result, NoScriptError):  # Redis lost its scripts (a restart)
                try:
                    result = await self._count(keys=[redis_key], args=[ttl_s])
                except Exception as exc:
                    result = exc
            if future.done():  # the request went away meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(int(result))

    async def reset(self, key: str, rule: RateLimitRule) -> None:
        start, _ = _window(rule, time.time())
        await self._fallback.reset(key, rule)
        with contextlib.suppress(RedisUnavailable):
            await self._breaker.call(
                "ratelimit", lambda: self._redis.delete(self._key(key, rule, start))
            )


def _fail(future: asyncio.Future[int], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
