"""The one background loop every in-process worker runs (scheduler, simulator, webhooks)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("commbase.loops")


async def repeat(
    step: Callable[[], Awaitable[int | None]],
    *,
    stop: asyncio.Event,
    pause_s: float,
    name: str,
    again_when_busy: bool = False,
) -> None:
    """Run ``step`` until ``stop`` is set, pausing ``pause_s`` between rounds.

    A failing round is logged and the loop goes on. With ``again_when_busy``, a
    round that reports work done (a truthy count) is followed at once by the next.
    """
    while not stop.is_set():
        try:
            done = await step()
        except Exception as exc:  # one bad round must not end the worker
            log.error("background round failed", loop=name, error=str(exc))
            done = 0
        if again_when_busy and done:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause_s)
