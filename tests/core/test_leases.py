"""Leases: one holder at a time, in the database and in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from commbase.core.db import Database
from commbase.core.leases import DatabaseLease, Lease, LeaseRow, RedisLease
from commbase.core.time import FrozenClock
from tests.conftest import REDIS_URL


@dataclass
class LeaseUnderTest:
    lease: Lease
    # Let ``seconds`` pass for the lease's clock.
    elapse: Callable[[str, float], Awaitable[None]]
    # Remaining lifetime of ``name`` as the backend stores it, in seconds.
    remaining: Callable[[str], Awaitable[float]]


@pytest.fixture(params=["database", "redis"])
async def subject(
    request: pytest.FixtureRequest, database: Database, clock: FrozenClock
) -> AsyncIterator[LeaseUnderTest]:
    if request.param == "database":

        async def elapse(name: str, seconds: float) -> None:
            clock.advance(seconds)

        async def remaining(name: str) -> float:
            async with database.sessionmaker() as session:
                expires = await session.scalar(
                    select(LeaseRow.expires_at).where(LeaseRow.name == name)
                )
            assert expires is not None
            return (expires - clock.now()).total_seconds()

        yield LeaseUnderTest(DatabaseLease(database), elapse, remaining)
        return

    if not REDIS_URL:
        pytest.skip("the Redis lease is tested when COMMBASE_TEST_REDIS_URL is set")
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    lease = RedisLease(redis)

    async def elapse_redis(name: str, seconds: float) -> None:
        # Redis keeps time itself: move the key's expiry earlier by ``seconds``.
        key = lease.ns + name
        left = await redis.pttl(key)
        if left > 0:
            if left <= seconds * 1000:
                await redis.pexpireat(key, 1)  # a moment in the past: expired now
            else:
                await redis.pexpire(key, int(left - seconds * 1000))

    async def remaining_redis(name: str) -> float:
        return float(await redis.pttl(lease.ns + name)) / 1000

    yield LeaseUnderTest(lease, elapse_redis, remaining_redis)
    await redis.flushdb()
    await redis.aclose()


async def test_one_holder_at_a_time(subject: LeaseUnderTest) -> None:
    lease = subject.lease
    assert await lease.acquire("scheduler", holder="a", ttl_s=60)
    assert not await lease.acquire("scheduler", holder="b", ttl_s=60)
    # Other names are independent.
    assert await lease.acquire("outbox", holder="b", ttl_s=60)
    assert not await lease.acquire("outbox", holder="a", ttl_s=60)


async def test_holder_renews_and_keeps_it(subject: LeaseUnderTest) -> None:
    lease = subject.lease
    assert await lease.acquire("scheduler", holder="a", ttl_s=60)
    await subject.elapse("scheduler", 50)
    assert 0 < await subject.remaining("scheduler") <= 10

    assert await lease.acquire("scheduler", holder="a", ttl_s=60)
    assert 50 < await subject.remaining("scheduler") <= 60

    # Past the first term, but inside the renewed one.
    await subject.elapse("scheduler", 50)
    assert not await lease.acquire("scheduler", holder="b", ttl_s=60)


async def test_another_holder_takes_over_after_expiry(subject: LeaseUnderTest) -> None:
    lease = subject.lease
    assert await lease.acquire("scheduler", holder="a", ttl_s=60)
    await subject.elapse("scheduler", 59)
    assert not await lease.acquire("scheduler", holder="b", ttl_s=60)

    await subject.elapse("scheduler", 2)
    assert await lease.acquire("scheduler", holder="b", ttl_s=60)
    # The former holder lost it and cannot renew.
    assert not await lease.acquire("scheduler", holder="a", ttl_s=60)


async def test_only_the_holder_releases(subject: LeaseUnderTest) -> None:
    lease = subject.lease
    assert await lease.acquire("scheduler", holder="a", ttl_s=60)

    await lease.release("scheduler", holder="b")
    assert not await lease.acquire("scheduler", holder="b", ttl_s=60)

    await lease.release("scheduler", holder="a")
    assert await lease.acquire("scheduler", holder="b", ttl_s=60)
    await lease.release("never-taken", holder="b")  # harmless


async def test_concurrent_claims_have_one_winner(subject: LeaseUnderTest) -> None:
    lease = subject.lease
    holders = [f"worker-{n}" for n in range(5)]

    won = await asyncio.gather(*(lease.acquire("scheduler", holder=h, ttl_s=60) for h in holders))

    assert sorted(won) == [False] * 4 + [True]


async def test_concurrent_takeover_of_an_expired_lease_has_one_winner(
    subject: LeaseUnderTest,
) -> None:
    lease = subject.lease
    assert await lease.acquire("scheduler", holder="dead", ttl_s=10)
    await subject.elapse("scheduler", 11)

    won = await asyncio.gather(
        *(lease.acquire("scheduler", holder=f"worker-{n}", ttl_s=60) for n in range(5))
    )

    assert sorted(won) == [False] * 4 + [True]
