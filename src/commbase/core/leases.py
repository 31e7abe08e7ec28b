"""Leases: one holder at a time for a named lock, in the database or in Redis.

While Redis is away a Redis lease answers "not yours" to everyone: nobody leads
until Redis answers again, and then the first to ask takes it (or its holder,
if Redis kept it, renews it).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import String, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.breaker import RedisBreaker, RedisUnavailable
from commbase.core.db import Base, Database
from commbase.core.time import utcnow


class Lease(Protocol):
    async def acquire(self, name: str, *, holder: str, ttl_s: float) -> bool:
        """Take or renew ``name`` for ``holder``; False when someone else holds it."""
        ...

    async def release(self, name: str, *, holder: str) -> None: ...


class LeaseRow(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class DatabaseLease:
    """A lease row per name; whoever holds an unexpired row is the leader."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def acquire(self, name: str, *, holder: str, ttl_s: float) -> bool:
        now = utcnow()
        expires = now + timedelta(seconds=ttl_s)
        async with self.database.sessionmaker() as session:
            result = await session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    (LeaseRow.holder == holder) | (LeaseRow.expires_at < now),
                )
                .values(holder=holder, expires_at=expires)
            )
            if getattr(result, "rowcount", 0):
                await session.commit()
                return True
            try:
                await session.execute(
                    insert(LeaseRow).values(name=name, holder=holder, expires_at=expires)
                )
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
            return True

    async def release(self, name: str, *, holder: str) -> None:
        async with self.database.sessionmaker() as session:
            await session.execute(
                delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder)
            )
            await session.commit()


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """``SET NX PX`` lease, renewed and released only by its holder."""

    def __init__(
        self, redis: Redis, *, namespace: str = "cb:lease:", breaker: RedisBreaker | None = None
    ) -> None:
        self.redis = redis
        self.ns = namespace
        self.breaker = breaker or RedisBreaker(redis)

    async def acquire(self, name: str, *, holder: str, ttl_s: float) -> bool:
        key, ttl_ms = self.ns + name, max(1, int(ttl_s * 1000))

        async def take_or_renew() -> bool:
            if await self.redis.set(key, holder, nx=True, px=ttl_ms):
                return True
            return bool(await self.redis.eval(_RENEW, 1, key, holder, ttl_ms))

        try:
            return await self.breaker.call("lease", take_or_renew)
        except RedisUnavailable:
            return False

    async def release(self, name: str, *, holder: str) -> None:
        # Redis away: the lease simply expires.
        with contextlib.suppress(RedisUnavailable):
            await self.breaker.call(
                "lease", lambda: self.redis.eval(_RELEASE, 1, self.ns + name, holder)
            )
