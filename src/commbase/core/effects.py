"""Effects outside the database, run from the outbox once the change has committed.

Dialing a carrier, charging a card, sending a message: a service records a
domain event in its transaction (``outbox.record``); an effect handler
registered for that event type runs after the transaction commits, in a worker
that claims the event with a lease::

    @effect("calls.dial", event_types=[events.CALL_QUEUED])
    async def dial(ctx: EffectContext, event: ClaimedEvent) -> None:
        ...  # reads what it needs, calls the carrier, writes the outcome

* A rolled-back transaction recorded no event, so nothing happens outside.
* A handler that raises is retried with backoff (``retry_after_s``); one that
  keeps failing is given up after ``max_attempts`` and ``on_give_up`` runs, so
  the row that asked for the effect can be marked failed.
* A worker holds its claim on an event with a short lease (``LEASE_S``), renewed
  every ``RENEW_S`` while the handler runs; a worker that dies mid-effect stops
  renewing, and another worker runs the effect again seconds later: handlers
  pass an idempotency key derived from the event (``event.event_id``) to the
  provider, and check the row's state before acting, so a retry never dials,
  charges or sends twice.
* Recording the outcome waits out a database blip (up to ``RECORD_FOR_S``)
  instead of dropping it, so a finished effect is not run again. Each handled
  event is recorded done as soon as it finishes, not when its round's slowest
  handler does (``_Completer``): the events that finished while the previous
  record was being written are recorded together, in one statement. A worker
  that dies mid-round leaves only its unfinished effects (and those finished in
  the last few milliseconds) to run again. An event's lease is renewed until it
  is recorded done.

``EffectRunner`` runs every registered handler: in each API process when
``COMMBASE_RUN_JOBS`` is on (woken at once by commits in that process), and in
tests through ``run_once``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import structlog
from prometheus_client import Counter

from commbase.core import outbox
from commbase.core.db import Database, retry_while_unavailable
from commbase.core.outbox import ClaimedEvent
from commbase.core.renewal import renewed
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.effects")
EFFECTS = Counter("commbase_effects_total", "Effect handler runs", ["consumer", "outcome"])
# A claim lasts LEASE_S unless renewed; a running handler's is renewed every RENEW_S.
LEASE_S = 10
RENEW_S = 3
# How long recording a handler's outcome keeps trying while the database is away.
RECORD_FOR_S = 60


@dataclass
class EffectContext:
    """What a handler gets: storage, settings and shared services."""

    database: Database
    services: dict[str, Any] = field(default_factory=dict)


Handle = Callable[[EffectContext, ClaimedEvent], Awaitable[None]]
GiveUp = Callable[[EffectContext, ClaimedEvent, str], Awaitable[None]]


@dataclass(frozen=True)
class Effect:
    consumer: str
    event_types: tuple[str, ...]
    handle: Handle
    max_attempts: int
    retry_after_s: tuple[int, ...]
    on_give_up: GiveUp | None

    def delay(self, attempts: int) -> int:
        return self.retry_after_s[min(attempts, len(self.retry_after_s)) - 1]


_effects: dict[str, Effect] = {}


def effect(
    consumer: str,
    *,
    event_types: Sequence[str],
    max_attempts: int = 8,
    retry_after_s: Sequence[int] = (5, 15, 60, 300, 900, 1800, 3600),
    on_give_up: GiveUp | None = None,
) -> Callable[[Handle], Handle]:
    """Register ``handle`` to run for each committed event of ``event_types``."""

    def register(handle: Handle) -> Handle:
        outbox.register_consumer(consumer, event_types=event_types)
        _effects[consumer] = Effect(
            consumer,
            tuple(event_types),
            handle,
            max_attempts,
            tuple(retry_after_s),
            on_give_up,
        )
        return handle

    return register


def registered_effects() -> dict[str, Effect]:
    return dict(_effects)


class EffectRunner:
    """Claims due events for every registered effect and runs their handlers."""

    def __init__(
        self,
        database: Database,
        *,
        services: dict[str, Any] | None = None,
        worker_id: str | None = None,
        batch: int = 50,
        concurrency: int = 16,
        renew_every_s: float = RENEW_S,
    ) -> None:
        """``worker_id`` names this runner's claims (default: host and process id)."""
        self.ctx = EffectContext(database=database, services=services or {})
        self.worker_id = worker_id or f"effects:{socket.gethostname()}:{os.getpid()}"
        self.batch = batch
        self.renew_every_s = renew_every_s
        self._gate = asyncio.Semaphore(concurrency)
        self._stop = asyncio.Event()
        self._wake: asyncio.Event | None = None

    async def run_once(self, *, only: Sequence[str] | None = None) -> int:
        """One round over every effect (or those named in ``only``); returns how many
        events were handled, successfully or not."""
        handled = 0
        for name, effect_ in registered_effects().items():
            if only is not None and name not in only:
                continue
            async with self.ctx.database.sessionmaker() as session:
                claimed = await outbox.claim(
                    session,
                    consumer=name,
                    worker_id=self.worker_id,
                    limit=self.batch,
                    lease_s=LEASE_S,
                )
                await session.commit()
            if claimed:
                held = {event.delivery_id for event in claimed}
                renew = partial(self._renew, held)
                completer = _Completer(self, name, held)
                async with renewed(renew, every_s=self.renew_every_s, name=name):
                    try:
                        # Every run ends before the renewals stop, whatever one raises.
                        results = await asyncio.gather(
                            *(self._run(effect_, event, held, completer) for event in claimed),
                            return_exceptions=True,
                        )
                        # The last handled events are recorded before the renewals stop.
                        await completer.flushed()
                    finally:
                        completer.cancel()  # only if the round itself was cancelled
                for result in results:
                    if isinstance(result, BaseException):
                        # The outcome could not be recorded: the lease runs out and
                        # the effect is run again (it is idempotent).
                        log.error("effect outcome not recorded", consumer=name, error=repr(result))
                handled += len(claimed)
        return handled

    async def _complete(self, consumer: str, delivery_ids: list[int]) -> None:
        """Record the handled events as done, waiting out a database blip."""
        if not delivery_ids:
            return

        async def complete() -> None:
            async with self.ctx.database.sessionmaker() as session:
                await outbox.complete(session, delivery_ids=delivery_ids, worker_id=self.worker_id)
                await session.commit()

        await retry_while_unavailable(complete, for_s=RECORD_FOR_S, what=consumer)

    async def _renew(self, held: set[int]) -> None:
        """Extend the leases of the events whose outcome is not recorded yet."""
        if not held:
            return
        async with self.ctx.database.sessionmaker() as session:
            await outbox.renew(
                session, delivery_ids=sorted(held), worker_id=self.worker_id, lease_s=LEASE_S
            )
            await session.commit()

    async def _run(
        self, effect_: Effect, event: ClaimedEvent, held: set[int], completer: _Completer
    ) -> bool:
        """Run one handler; True if it succeeded (``completer`` then records it done)."""
        async with self._gate:
            try:
                await effect_.handle(self.ctx, event)
            except Exception as exc:
                await self._failed(effect_, event, f"{type(exc).__name__}: {exc}")
                held.discard(event.delivery_id)
                return False
        completer.add(event.delivery_id)
        return True

    async def _failed(self, effect_: Effect, event: ClaimedEvent, error: str) -> None:
        log.warning(
            "effect failed",
            consumer=effect_.consumer,
            event_id=event.event_id,
            attempt=event.attempts,
            error=error,
        )
        give_up = event.attempts >= effect_.max_attempts
        if give_up and effect_.on_give_up is not None:
            try:
                await effect_.on_give_up(self.ctx, event, error)
            except Exception as exc:  # keep the event for another try
                log.error("effect give-up failed", consumer=effect_.consumer, error=repr(exc))
                give_up = False

        async def record() -> None:
            async with self.ctx.database.sessionmaker() as session:
                if give_up:
                    await outbox.complete(
                        session,
                        delivery_ids=[event.delivery_id],
                        worker_id=self.worker_id,
                        error=f"gave up: {error}",
                    )
                else:
                    await outbox.release(
                        session,
                        delivery_ids=[event.delivery_id],
                        worker_id=self.worker_id,
                        retry_at=utcnow() + timedelta(seconds=effect_.delay(event.attempts)),
                        error=error,
                    )
                await session.commit()

        await retry_while_unavailable(record, for_s=RECORD_FOR_S, what=effect_.consumer)
        EFFECTS.labels(effect_.consumer, "gave_up" if give_up else "retry").inc()

    async def run_forever(self, *, poll_s: float = 1.0) -> None:
        """Run rounds until stopped: at once after a commit in this process recorded
        events, else every ``poll_s`` (events recorded by other processes, retries)."""
        wake = self._wake = outbox.listen()
        try:
            while not self._stop.is_set():
                wake.clear()
                try:
                    done = await self.run_once()
                except Exception as exc:  # one bad round must not end the worker
                    log.error("effects round failed", error=repr(exc))
                    done = 0
                if done:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=poll_s)
        finally:
            outbox.unlisten(wake)

    def stop(self) -> None:
        self._stop.set()
        if self._wake is not None:
            self._wake.set()


class _Completer:
    """Records a round's handled events done as they finish, in small groups.

    ``add`` queues an event; a single flush task writes whatever is queued in one
    statement, then at once whatever was queued meanwhile, until none is left (group
    commit: one UPDATE per group, none waiting on the round's slowest handler). An
    event leaves ``held`` (its lease is no longer renewed) once recorded done; a
    group that could not be recorded (the database away past ``RECORD_FOR_S``)
    keeps its leases until the round ends, and then runs again."""

    def __init__(self, runner: EffectRunner, consumer: str, held: set[int]) -> None:
        self.runner = runner
        self.consumer = consumer
        self.held = held
        self.queued: list[int] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, delivery_id: int) -> None:
        self.queued.append(delivery_id)
        if self._task is None or self._task.done():
            # Starts on the loop's next turn: handlers finishing in this turn join it.
            self._task = asyncio.create_task(self._flush(), name=f"complete {self.consumer}")

    async def _flush(self) -> None:
        while self.queued:
            group, self.queued = self.queued, []
            try:
                await self.runner._complete(self.consumer, group)
            except Exception as exc:
                # The lease runs out and the effects run again (they are idempotent).
                log.error("effect outcome not recorded", consumer=self.consumer, error=repr(exc))
                continue
            self.held.difference_update(group)
            EFFECTS.labels(self.consumer, "done").inc(len(group))

    async def flushed(self) -> None:
        """Wait until every event added so far is recorded (or could not be)."""
        if self._task is not None:
            await self._task

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
