"""Read replicas: analytics reads and large lists served by PostgreSQL streaming replicas,
with the same answers the primary would give.

``COMMBASE_DATABASE_REPLICA_URLS`` names the replicas (comma-separated). A read that may
go to a replica (``ReadSession``) is routed like this:

1. The primary's WAL flush position is read (``pg_current_wal_flush_lsn()``, one cheap
   statement on the request's own primary session). Every transaction committed on the
   primary before this moment is at or below it (commbase commits synchronously, so a
   commit is flushed before anyone can see it).
2. A replica that is neither down nor known to be behind is asked how far it has
   replayed (``pg_last_wal_replay_lsn()``). At or past the primary's position, it
   serves the read: every statement after the check sees everything the primary had
   committed when the request began, so the analytics rollup watermark, the rollups
   and the live tail (the raw facts changed after the watermark) are read as the
   primary would have answered at that moment, and a client that wrote before this
   request reads its own writes.
3. Behind, the replica is asked again every few milliseconds until
   ``COMMBASE_DATABASE_REPLICA_MAX_LAG_MS`` has passed; then the primary serves, and
   that replica is skipped for ``BEHIND_SKIP_S`` (requests do not each wait for it).
4. A replica that cannot be reached (``database_unavailable``) is skipped for
   ``DOWN_SKIP_S``; the primary serves.
5. A replica whose connection pool is exhausted (no connection free within
   ``REPLICA_POOL_TIMEOUT_S``, half a second) is skipped for ``BEHIND_SKIP_S``; the
   primary serves (a request does not wait the primary's 10 s pool timeout for it).

A request that has written in its own transaction (its primary session flushed a
change) reads from the primary. Writes never reach a replica: only ``ReadSession``
hands out replica sessions, and only to routes that read (GET), and every replica
transaction is rolled back. The replica's lag (``now() -
pg_last_xact_replay_timestamp()``, meaningful while it is behind) is logged and shown
by ``/readyz``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from prometheus_client import Counter
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_engine
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession

from commbase.core.db import (
    READ_ONLY,
    DbSession,
    Session,
    _connection_errors_as_dbapi_errors,
    database_unavailable,
)
from commbase.core.plans import CUSTOM_PLANS

log = structlog.get_logger("commbase.replicas")

# A replica that could not be reached is not tried again for this long.
DOWN_SKIP_S = 5.0
# A replica that did not catch up within the lag bound is not tried again for this long.
BEHIND_SKIP_S = 1.0
# Opening a connection to a replica: a replica that does not answer must cost little,
# the primary can serve instead.
REPLICA_CONNECT_TIMEOUT_S = 1.0
# Waiting for a pooled replica connection: the primary can serve instead, so a request
# waits little for a busy replica (the primary's own pool waits POOL_TIMEOUT_S, 10 s).
REPLICA_POOL_TIMEOUT_S = 0.5
POLL_S = 0.002
# Marks a session that a replica serves (``session.info[REPLICA_INFO]`` is its name).
REPLICA_INFO = "commbase.replica"
_WROTE = "commbase.wrote"

REPLICA_READS = Counter(
    "commbase_replica_reads_total",
    "Reads that could go to a replica, by who served them and why",
    ["served_by", "reason"],
)


@event.listens_for(OrmSession, "after_flush")
def _remember_write(session: OrmSession, _context: Any) -> None:
    # The sync session under an AsyncSession: its ``info`` is the AsyncSession's.
    session.info[_WROTE] = True


@event.listens_for(OrmSession, "do_orm_execute")
def _remember_statement(state: ORMExecuteState) -> None:
    # INSERT, UPDATE and DELETE statements run through the session flush nothing.
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _forget_write(session: OrmSession) -> None:
    session.info.pop(_WROTE, None)


def mark_written(session: AsyncSession) -> None:
    """Count ``session``'s transaction as having written: for statements sent to the
    database driver directly (``core.driver``), which the listeners above do not see."""
    session.info[_WROTE] = True


def wrote(session: AsyncSession) -> bool:
    """Whether ``session`` has flushed a change in its current transaction (or holds one
    not flushed yet)."""
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


def _replica_engine(url: str) -> AsyncEngine:
    engine = _create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=REPLICA_POOL_TIMEOUT_S,
        connect_args={
            "timeout": REPLICA_CONNECT_TIMEOUT_S,
            # Replicas serve only reads, analytics reads among them: every statement is
            # planned for its parameters (core.plans).
            "server_settings": {
                "plan_cache_mode": "force_custom_plan",
                "application_name": "commbase-replica-read",
            },
        },
    )
    _connection_errors_as_dbapi_errors(engine)
    return engine.execution_options(**{READ_ONLY: True, CUSTOM_PLANS: True})


@dataclass
class Replica:
    """One replica: its engine and when it may be tried again."""

    name: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[Session]
    skip_until: float = 0.0
    state: str = "ok"  # ok, behind, busy, down
    lag_ms: float | None = field(default=None)


@dataclass
class Choice:
    """Where a read goes: a replica (``replica`` set) or the primary, and why."""

    replica: Replica | None
    reason: str


class Replicas:
    """The configured replicas of one process and the routing of reads among them."""

    def __init__(
        self,
        urls: list[str],
        *,
        max_lag_ms: float,
        down_skip_s: float = DOWN_SKIP_S,
        behind_skip_s: float = BEHIND_SKIP_S,
    ) -> None:
        self.max_lag_s = max_lag_ms / 1000
        self.down_skip_s = down_skip_s
        self.behind_skip_s = behind_skip_s
        self.replicas: list[Replica] = []
        for position, url in enumerate(urls):
            engine = _replica_engine(url)
            self.replicas.append(
                Replica(
                    name=f"replica{position}",
                    engine=engine,
                    sessionmaker=async_sessionmaker(engine, class_=Session, expire_on_commit=False),
                )
            )

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()

    def _candidates(self) -> list[Replica]:
        now = time.monotonic()
        found = [r for r in self.replicas if r.skip_until <= now]
        random.shuffle(found)
        return found

    async def choose(self, primary: AsyncSession) -> Choice:
        """The replica that has replayed everything the primary has committed now, or
        the primary (``Choice.replica`` None) with the reason."""
        candidates = self._candidates()
        if not candidates:
            return Choice(None, "replicas skipped")
        position = await primary.scalar(text("SELECT pg_current_wal_flush_lsn()::text"))
        reason = "replica behind"
        for replica in candidates:
            try:
                if await self._caught_up(replica, str(position)):
                    return Choice(replica, "caught up")
            except sa_exc.TimeoutError:  # no pooled connection free in time
                self._mark(replica, "busy", self.behind_skip_s)
                reason = "replica busy"
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                self._mark(replica, "down", self.down_skip_s, error=repr(exc))
                reason = "replica down"
        return Choice(None, reason)

    async def _caught_up(self, replica: Replica, position: str) -> bool:
        deadline = time.monotonic() + self.max_lag_s
        query = text(
            "SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:position AS text) AS pg_lsn), "
            "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000"
        )
        async with replica.engine.connect() as connection:
            while True:
                row = (await connection.execute(query, {"position": position})).one()
                await connection.rollback()  # each check sees the replay position anew
                if row[0]:
                    if replica.state != "ok":
                        log.info("replica caught up", replica=replica.name)
                    replica.state, replica.lag_ms = "ok", 0.0
                    return True
                replica.lag_ms = float(row[1]) if row[1] is not None else None
                if row[0] is None or time.monotonic() + POLL_S > deadline:
                    # None: not a replica in recovery (promoted, or a primary by mistake)
                    self._mark(replica, "behind", self.behind_skip_s, lag_ms=replica.lag_ms)
                    return False
                await asyncio.sleep(POLL_S)

    def _mark(self, replica: Replica, state: str, skip_s: float, **details: Any) -> None:
        if replica.state != state:
            log.warning(f"replica {state}: the primary serves its reads", **details)
        replica.state = state
        replica.skip_until = time.monotonic() + skip_s

    async def status(self, timeout_s: float) -> dict[str, str]:
        """Per replica: ``ok (lag N ms)``, ``behind ...``, ``not a replica ...`` (a server
        not in recovery: promoted, or a primary named by mistake; it is never read from)
        or ``error: <type>`` (readiness: anything but ``ok`` is degraded)."""
        found: dict[str, str] = {}
        for replica in self.replicas:
            try:
                async with asyncio.timeout(timeout_s), replica.engine.connect() as connection:
                    recovering, lag = (
                        await connection.execute(
                            text(
                                "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn()"
                                " = pg_last_wal_replay_lsn() THEN 0 ELSE EXTRACT(EPOCH FROM "
                                "now() - pg_last_xact_replay_timestamp()) * 1000 END"
                            )
                        )
                    ).one()
                if not recovering:
                    found[replica.name] = "not a replica (pg_is_in_recovery() is false)"
                    continue
                lag_ms = float(lag or 0)
                state = "ok" if lag_ms <= self.max_lag_s * 1000 else "behind"
                found[replica.name] = f"{state} (replay lag {lag_ms:.0f} ms)"
            except Exception as exc:
                found[replica.name] = f"error: {type(exc).__name__}"
        return found


def replicas_for(urls: list[str], *, dialect: str, max_lag_ms: float) -> Replicas | None:
    """The replicas to route reads to: None without URLs, refused on SQLite."""
    if not urls:
        return None
    if dialect != "postgresql":
        raise ValueError("COMMBASE_DATABASE_REPLICA_URLS needs a PostgreSQL primary")
    return Replicas(urls, max_lag_ms=max_lag_ms)


async def _read_session(request: Request, primary: DbSession) -> AsyncIterator[AsyncSession]:
    """A session for a read that a replica may serve (see the module's description)."""
    replicas: Replicas | None = getattr(request.app.state, "replicas", None)
    if replicas is None:
        yield primary
        return
    if request.method not in ("GET", "HEAD") or wrote(primary):
        REPLICA_READS.labels("primary", "request writes").inc()
        yield primary
        return
    choice = await replicas.choose(primary)
    if choice.replica is None:
        REPLICA_READS.labels("primary", choice.reason).inc()
        yield primary
        return
    REPLICA_READS.labels("replica", choice.reason).inc()
    async with choice.replica.sessionmaker() as session:
        session.info[REPLICA_INFO] = choice.replica.name
        try:
            yield session
        finally:
            await session.rollback()  # nothing a replica session did is kept


# Like DbSession, for reads a replica may serve: analytics reads and large lists.
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]


async def _read_sessions(request: Request, primary: DbSession) -> async_sessionmaker[Session]:
    """Sessions for a read that opens its own (a streamed export): a caught-up replica's,
    or the primary's; chosen now, so every session opened later sees at least what the
    primary had committed when the request began."""
    database = request.app.state.db
    replicas: Replicas | None = getattr(request.app.state, "replicas", None)
    if replicas is None or request.method not in ("GET", "HEAD") or wrote(primary):
        return database.sessionmaker  # type: ignore[no-any-return]
    choice = await replicas.choose(primary)
    REPLICA_READS.labels("primary" if choice.replica is None else "replica", choice.reason).inc()
    if choice.replica is None:
        return database.sessionmaker  # type: ignore[no-any-return]
    return choice.replica.sessionmaker


ReadSessions = Annotated[async_sessionmaker[Session], Depends(_read_sessions)]
