"""The state of every live call a process relays, read once per poll for all of them.

Each attached agent watches its call's status (to tell the agent, to end the call at
its maximum duration, to stop once it has ended). Read per agent, 100 live calls are
100 transactions a second competing with the frames on one event loop; the board
reads all the calls its watchers wait on in one query per round and wakes them
together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable

import structlog
from sqlalchemy import select

from commbase.calls.live.service import LIVE_COLUMNS, LiveCall
from commbase.calls.models import Call
from commbase.core.db import Database

log = structlog.get_logger("commbase.calls.live")
BATCH = 500  # call ids in one query


class CallBoard:
    def __init__(self, database: Database, *, interval_s: Callable[[], float]) -> None:
        self.database = database
        self.interval_s = interval_s  # read each round (tests shorten the context's poll)
        self._watching: Counter[str] = Counter()
        self._round: asyncio.Future[dict[str, LiveCall]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def next(self, call: LiveCall) -> LiveCall | None:
        """The call as the next round reads it (None: gone, e.g. a private call erased)."""
        self._watching[call.id] += 1
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run(), name="live-call-board")
            if self._round is None:
                self._round = asyncio.get_running_loop().create_future()
            calls = await asyncio.shield(self._round)
        finally:
            self._watching[call.id] -= 1
            if self._watching[call.id] <= 0:
                del self._watching[call.id]
        return calls.get(call.id)

    async def _run(self) -> None:
        while self._watching:
            await asyncio.sleep(self.interval_s())
            waiting, self._round = self._round, None
            if waiting is None:
                continue
            try:
                calls = await self._read(list(self._watching))
            except Exception as exc:  # a database hiccup: watchers try the next round
                log.warning("live call board not read", error=str(exc)[:200])
                if not waiting.done():
                    waiting.set_exception(exc)
                    with contextlib.suppress(BaseException):
                        waiting.exception()  # read: no "never retrieved" warning
                continue
            if not waiting.done():
                waiting.set_result(calls)

    async def _read(self, ids: list[str]) -> dict[str, LiveCall]:
        calls: dict[str, LiveCall] = {}
        async with self.database.sessionmaker() as session:
            for start in range(0, len(ids), BATCH):
                rows = await session.execute(
                    select(*LIVE_COLUMNS).where(Call.id.in_(ids[start : start + BATCH]))
                )
                for row in rows:
                    calls[row.id] = LiveCall.of(row)
        return calls
