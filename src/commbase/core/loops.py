"""The one background loop every in-process worker runs (scheduler, simulator, webhooks)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("commbase.loops")

FAILING_PAUSE_MAX_S = 2.0


async def repeat(
    step: Callable[[], Awaitable[int | None]],
    *,
    stop: asyncio.Event,
    pause_s: float,
    name: str,
    again_when_busy: bool = False,
) -> None:
    """Run ``step`` until ``stop`` is set, pausing ``pause_s`` between rounds.

    A failing round is logged and the loop goes on; failing rounds in a row wait
    twice as long each time, up to ``FAILING_PAUSE_MAX_S`` (a database away for
    minutes is not asked, nor logged, 20 times a second). With ``again_when_busy``,
    a round that reports work done (a truthy count) is followed at once by the next.
    """
    failures = 0
    while not stop.is_set():
        pause = pause_s
        try:
            done = await step()
            failures = 0
        except Exception as exc:  # one bad round must not end the worker
            failures += 1
            pause = min(max(pause_s, 0.05) * 2**failures, max(pause_s, FAILING_PAUSE_MAX_S))
            log.error(
                "background round failed", loop=name, error=str(exc), retry_in_s=round(pause, 2)
            )
            done = 0
        if again_when_busy and done:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)


class PeriodicFlush:
    """What keeps counts in memory and writes them now and then (credential usage, API
    request outcomes): ``flush`` runs every ``flush_every_s`` from ``start`` until
    ``stop``. A subclass defines ``flush`` (returning how many rows it wrote) and
    ``loop_name``; a failing flush is logged and the loop goes on."""

    loop_name = "flush"

    def __init__(self, *, flush_every_s: float) -> None:
        self.flush_every_s = flush_every_s
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def flush(self) -> int:
        raise NotImplementedError

    async def start(self) -> None:
        """Write every ``flush_every_s`` until ``stop`` (a second start does nothing)."""
        if self._loop is None:
            self._stopping.clear()
            self._loop = asyncio.create_task(
                repeat(
                    self.flush, stop=self._stopping, pause_s=self.flush_every_s, name=self.loop_name
                )
            )

    async def stop(self) -> None:
        """Stop the loop after its current write."""
        if self._loop is not None:
            self._stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
