"""Drive simulated calls forward: in the app every second, or by tests on demand."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from commbase.billing import service as billing_service
from commbase.calls import lifecycle
from commbase.calls.enums import CallStatus, EventSource, ProviderName
from commbase.calls.models import Call
from commbase.calls.providers.simulator import due_events
from commbase.core.db import Database
from commbase.core.literals import among
from commbase.core.loops import repeat
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.calls.simulator")


BATCH = 500
# On PostgreSQL: calls advanced side by side, each in a transaction of its own.
WORKERS = 16


async def advance_simulated_calls(database: Database, *, now: datetime | None = None) -> int:
    """Apply every due scripted step of every active simulated call (up to ``BATCH``
    of them), each step once; returns how many moved a call. Rows are claimed with
    SKIP LOCKED, so several processes may run this. Queued calls not dialed yet have
    no script: they wait, and are not taken (``_active``).

    On SQLite (one writer at a time) the calls are advanced in one transaction. On
    PostgreSQL ``WORKERS`` transactions run side by side, one call each, as the
    carrier's callbacks would arrive, and the charges of calls that end join their
    wallet's group commit (``GroupedDebits``): a wallet's row is not locked from
    one call's charge until a whole batch commits."""
    now = now or utcnow()
    if database.dialect != "postgresql":
        async with database.sessionmaker() as session:
            calls = (await session.scalars(_active().with_for_update(skip_locked=True))).all()
            moved = 0
            for call in calls:
                moved += await _advance(session, call, now=now, debits=None)
            await session.commit()
        return moved
    async with database.sessionmaker() as session:
        ids = list((await session.scalars(_active().with_only_columns(Call.id))).all())
    debits = billing_service.GroupedDebits.of(database)

    async def worker() -> int:
        # One connection for the worker's calls, each in a transaction (a session) of
        # its own: not taken from the pool and given back for every call. After a
        # failure the next call takes a new one.
        moved = 0
        connection: AsyncConnection | None = None
        try:
            while ids:
                call_id = ids.pop()
                try:
                    connection = connection or await database.engine.connect()
                    async with database.sessionmaker(bind=connection) as session:
                        call = await session.scalar(_ACTIVE_CALL, {"call_id": call_id})
                        if call is None:
                            continue  # finished meanwhile, or another process has it
                        advanced = await _advance(session, call, now=now, debits=debits)
                        await session.commit()
                        moved += advanced
                except Exception:
                    # Nothing of this call's steps is kept (a charge that committed in
                    # its group is found by its key next time): the next pass retries.
                    log.exception("simulated call not advanced", call_id=call_id)
                    await _closed(connection)
                    connection = None
        finally:
            await _closed(connection)
        return moved

    return sum(await asyncio.gather(*(worker() for _ in range(min(WORKERS, len(ids))))))


async def _closed(connection: AsyncConnection | None) -> None:
    """Give ``connection`` back to the pool (the pool drops it if it is broken)."""
    if connection is not None:
        try:
            await connection.close()
        except Exception:
            log.warning("closing a simulator connection failed", exc_info=True)


# Built once: every simulated call's step locks it.
_ACTIVE_CALL = (
    select(Call)
    .where(Call.id == bindparam("call_id"), among(Call.status, lifecycle.ACTIVE))
    .with_for_update(skip_locked=True)
)


def _active() -> Select[Any]:
    """The oldest ``BATCH`` simulated calls that have a script to play: a queued call
    gets one (``provider_state``) only when its dial stores the carrier's answer, so
    queued calls without one are left out -- taken, they would fill the batch while
    calls that can move waited behind them."""
    return (
        select(Call)
        .where(
            Call.provider == ProviderName.SIMULATOR,
            among(Call.status, lifecycle.ACTIVE),
            or_(
                Call.status != CallStatus.QUEUED,
                Call.provider_state["started_at"].as_string().is_not(None),
            ),
        )
        .order_by(Call.id)
        .limit(BATCH)
    )


async def _advance(
    session: AsyncSession,
    call: Call,
    *,
    now: datetime,
    debits: billing_service.GroupedDebits | None,
) -> int:
    moved = 0
    # The steps' events and reports are written together: once the call ends, or
    # after the last.
    pending = lifecycle.Pending()
    for event in due_events(call, now=now):
        if await lifecycle.apply_event(
            session,
            call=call,
            event=event,
            source=EventSource.SIMULATOR,
            debits=debits,
            pending=pending,
        ):
            moved += 1
        if lifecycle.is_final(call.status):
            break
    await lifecycle.record_pending(session, pending, org_id=call.org_id)
    return moved


class SimulatorRunner:
    """A background loop that keeps simulated calls moving."""

    def __init__(self, database: Database, *, tick_s: float = 1.0) -> None:
        self.database = database
        self.tick_s = tick_s
        self._stop = asyncio.Event()

    async def run_forever(self) -> None:
        await repeat(
            lambda: advance_simulated_calls(self.database),
            stop=self._stop,
            pause_s=self.tick_s,
            name="simulator",
        )

    def stop(self) -> None:
        self._stop.set()
