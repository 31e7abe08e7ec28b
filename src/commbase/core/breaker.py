"""Keep serving while Redis is away: one circuit breaker per Redis client.

Every use of Redis (cache, rate limits, leases) goes through ``RedisBreaker.call``.
When a call fails (refused, timed out, any Redis error), the breaker opens, and
while it is open nobody waits on Redis: each use falls back to its in-process
answer at once (``RedisUnavailable``). A background task pings Redis every
``open_s`` seconds; when it answers, the recovery steps registered with
``on_recovery`` run (the cache invalidates what it may have missed) and only then
does Redis serve again.

An outage is logged once when it starts and once when it ends, not per request;
``commbase_redis_fallbacks_total{use}`` counts the answers given without Redis and
``commbase_redis_available`` is 0 while the breaker is open.

(Written here rather than taken from a library: the circuit breakers on PyPI let
a real call through when half-open, so a request pays the timeout, and have no
step to run before Redis is trusted again.)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

T = TypeVar("T")

# What a call to Redis raises when Redis is away: redis-py's own errors, and the
# socket's, in case one escapes it.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)

REDIS_FALLBACKS = Counter(
    "commbase_redis_fallbacks_total",
    "Answers given without Redis (in-process fallback) while it was unavailable",
    ["use"],
)
REDIS_AVAILABLE = Gauge(
    "commbase_redis_available", "1 while Redis is used, 0 while the breaker is open"
)
log = structlog.get_logger("commbase.redis")

Recovery = Callable[[], Awaitable[None]]


class RedisUnavailable(Exception):
    """Redis did not answer, or is skipped for a moment after it did not."""


class RedisBreaker:
    """Skips Redis for ``open_s`` after a failure, probing it every ``open_s`` until it
    answers."""

    def __init__(self, redis: Redis, *, open_s: float = 1.0) -> None:
        self.redis = redis
        self.open_s = open_s
        self._open = False
        self._opened_at = 0.0
        self._fallbacks = 0
        self._recovering: asyncio.Task[None] | None = None
        self._recoveries: list[Recovery] = []
        REDIS_AVAILABLE.set(1)

    @property
    def available(self) -> bool:
        """False while the breaker is open (Redis is skipped)."""
        return not self._open

    def on_recovery(self, step: Recovery) -> None:
        """Run ``step`` after Redis answers again and before anyone uses it."""
        self._recoveries.append(step)

    async def call(self, use: str, op: Callable[[], Awaitable[T]]) -> T:
        """Run ``op`` against Redis; raise ``RedisUnavailable`` to ask for the fallback."""
        if self._open:
            self._fell_back(use)
            raise RedisUnavailable(f"Redis skipped for {use}")
        try:
            return await op()
        except REDIS_ERRORS as exc:
            self.failed(use, exc)
            self._fell_back(use)
            raise RedisUnavailable(f"Redis failed for {use}: {exc!r}") from exc

    def failed(self, use: str, exc: BaseException) -> None:
        """Open the breaker after ``exc``: logged when an outage starts, not after."""
        if self._open:
            return
        self._open, self._opened_at, self._fallbacks = True, time.monotonic(), 0
        REDIS_AVAILABLE.set(0)
        log.warning(
            "redis unavailable: serving with in-process fallbacks",
            use=use,
            error=repr(exc),
            probe_every_s=self.open_s,
        )
        if self._recovering is None or self._recovering.done():
            # Outside the failing request's context: its request id is not the probe's.
            self._recovering = asyncio.create_task(self._recover(), context=contextvars.Context())

    async def probe(self) -> bool:
        """Ping Redis and run the recovery steps; close the breaker when all succeed."""
        try:
            await self.redis.ping()
            for step in self._recoveries:
                await step()
        except REDIS_ERRORS:
            return False
        except Exception as exc:
            # Not Redis being away but a step failing otherwise: say so and probe again
            # (raised, it would end the probing and leave the breaker open for good).
            log.error("redis recovery step failed", error=repr(exc))
            return False
        if self._open:
            self._open = False
            REDIS_AVAILABLE.set(1)
            log.warning(
                "redis available again",
                outage_s=round(time.monotonic() - self._opened_at, 3),
                fallbacks=self._fallbacks,
            )
        return True

    async def close(self) -> None:
        """Stop probing (the application is shutting down)."""
        if self._recovering is not None:
            self._recovering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovering
            self._recovering = None

    async def _recover(self) -> None:
        while self._open:
            await asyncio.sleep(self.open_s)
            await self.probe()

    def _fell_back(self, use: str) -> None:
        self._fallbacks += 1
        REDIS_FALLBACKS.labels(use).inc()
