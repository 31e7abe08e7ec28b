"""Heartbeats that keep a lease alive while the work it covers runs.

Claims in the database (an ``Idempotency-Key`` being served, webhook deliveries
being sent, outbox events being handled) carry a short expiry, so that the claims
of a process that died are taken over within seconds. ``renewed`` pushes that
expiry out at a steady pace for as long as the claimant is alive and working.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

log = structlog.get_logger("commbase.renewal")


@contextlib.asynccontextmanager
async def renewed(
    renew: Callable[[], Awaitable[object]], *, every_s: float, name: str
) -> AsyncIterator[None]:
    """Call ``renew`` every ``every_s`` seconds while the block runs.

    A renewal that fails (the database is away) is logged and tried again at the next
    beat: the claim expires only if renewals keep failing for its whole lease. On exit
    a renewal in progress is awaited, never cut off mid-write.
    """
    stop = asyncio.Event()

    async def beat() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
                return
            try:
                await renew()
            except Exception as exc:
                log.warning("lease renewal failed", lease=name, error=repr(exc))

    task = asyncio.create_task(beat(), name=f"renew {name}")
    try:
        yield
    finally:
        stop.set()
        await task
