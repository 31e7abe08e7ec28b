"""Drive simulated calls forward: in the app every second, or by tests on demand."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from sqlalchemy import select

from commbase.calls import lifecycle
from commbase.calls.enums import EventSource, ProviderName
from commbase.calls.models import Call
from commbase.calls.providers.simulator import due_events
from commbase.core.db import Database
from commbase.core.loops import repeat
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.calls.simulator")


async def advance_simulated_calls(database: Database, *, now: datetime | None = None) -> int:
    """Apply every due scripted step of every active simulated call, each step once;
    returns how many moved a call. Rows are claimed with SKIP LOCKED, so several
    processes may run this. Queued calls not dialed yet have no script and wait."""
    now = now or utcnow()
    moved = 0
    async with database.sessionmaker() as session:
        calls = (
            await session.scalars(
                select(Call)
                .where(Call.provider == ProviderName.SIMULATOR, Call.status.in_(lifecycle.ACTIVE))
                .order_by(Call.id)
                .limit(500)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for call in calls:
            for event in due_events(call, now=now):
                if await lifecycle.apply_event(
                    session, call=call, event=event, source=EventSource.SIMULATOR
                ):
                    moved += 1
                if lifecycle.is_final(call.status):
                    break
        await session.commit()
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
