"""The Redis breaker's background probe keeps going until Redis serves again."""

from __future__ import annotations

import asyncio
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError

from commbase.core.breaker import RedisBreaker


class AnsweringRedis:
    """Redis as the probe sees it once it is back: it answers a ping."""

    async def ping(self) -> bool:
        return True


async def test_a_recovery_step_failing_oddly_does_not_stop_the_probe() -> None:
    """A step that raises something other than a Redis error (a bug, an odd state
    of a client) is tried again at the next probe; the breaker must not stay open
    for the rest of the process's life."""
    breaker = RedisBreaker(cast(Redis, AnsweringRedis()), open_s=0.01)
    tries: list[int] = []

    async def step() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("not a Redis error")

    breaker.on_recovery(step)
    try:
        breaker.failed("cache", ConnectionError("refused"))
        assert not breaker.available
        for _ in range(500):  # the probe runs every 0.01 s
            if breaker.available:
                break
            await asyncio.sleep(0.01)
    finally:
        await breaker.close()
    assert breaker.available, "the probe stopped after a step failed"
    assert len(tries) == 2
