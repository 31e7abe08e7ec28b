"""Effects run from the outbox after commit: never for a rolled-back change, retried
with backoff, given up after their attempts, and re-run when a worker dies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from commbase.core import effects, outbox
from commbase.core.db import Database
from commbase.core.effects import EffectContext, EffectRunner, effect
from commbase.core.events import EventPayload, define
from commbase.core.outbox import ClaimedEvent, OutboxDelivery, OutboxEvent
from commbase.core.time import FrozenClock, use_clock


class Poked(EventPayload):
    n: int


POKED = define("tests.effect.poked", Poked, "A test event for effects.")
IGNORED = define("tests.effect.ignored", Poked, "A test event no effect hears.")


@pytest.fixture(autouse=True)
def only_test_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "_consumers", {})
    monkeypatch.setattr(effects, "_effects", {})


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def record(database: Database, event_type: str, n: int, *, commit: bool = True) -> None:
    async with database.sessionmaker() as session:
        await outbox.record(session, event_type, {"n": n}, org_id="org_a")
        if commit:
            await session.commit()
        else:
            await session.rollback()


async def test_an_effect_runs_once_for_each_committed_event_and_never_for_a_rollback(
    database: Database,
) -> None:
    seen: list[int] = []

    @effect("tests.poke", event_types=[POKED])
    async def poke(ctx: EffectContext, event: ClaimedEvent) -> None:
        seen.append(event.payload["n"])

    await record(database, POKED, 1)
    await record(database, POKED, 2, commit=False)
    await record(database, IGNORED, 3)
    async with database.sessionmaker() as session:
        # The ignored type queued nothing for this consumer.
        queued = (await session.scalars(select(OutboxDelivery.consumer))).all()
    assert queued == ["tests.poke"]
    runner = EffectRunner(database)
    assert await runner.run_once() == 1
    assert await runner.run_once() == 0
    assert seen == [1]
    async with database.sessionmaker() as session:
        # Completed: its delivery is gone.
        assert (await session.scalars(select(OutboxDelivery.consumer))).all() == []


async def test_a_failing_effect_is_retried_with_backoff_then_given_up(
    database: Database, clock: FrozenClock
) -> None:
    attempts: list[int] = []
    given_up: list[str] = []

    async def give_up(ctx: EffectContext, event: ClaimedEvent, error: str) -> None:
        given_up.append(error)

    @effect(
        "tests.flaky",
        event_types=["tests.effect.*"],
        max_attempts=3,
        retry_after_s=(10, 60),
        on_give_up=give_up,
    )
    async def flaky(ctx: EffectContext, event: ClaimedEvent) -> None:
        attempts.append(event.attempts)
        raise RuntimeError("carrier down")

    await record(database, POKED, 1)
    runner = EffectRunner(database)
    assert await runner.run_once() == 1
    assert await runner.run_once() == 0  # waiting out the first backoff
    clock.advance(9)
    assert await runner.run_once() == 0
    clock.advance(1)
    assert await runner.run_once() == 1
    clock.advance(60)
    assert await runner.run_once() == 1
    assert attempts == [1, 2, 3]
    assert given_up == ["RuntimeError: carrier down"]
    clock.advance(3600)
    assert await runner.run_once() == 0
    async with database.sessionmaker() as session:
        delivery = await session.scalar(select(OutboxDelivery))
    assert delivery is not None
    assert delivery.done_at is not None
    assert delivery.last_error == "gave up: RuntimeError: carrier down"


async def test_an_effect_whose_worker_died_runs_again_after_the_lease(
    database: Database, clock: FrozenClock
) -> None:
    runs: list[str] = []

    @effect("tests.lease", event_types=[POKED])
    async def handle(ctx: EffectContext, event: ClaimedEvent) -> None:
        runs.append(event.event_id)

    await record(database, POKED, 1)
    # A worker claims the event and dies before running it.
    async with database.sessionmaker() as session:
        assert await outbox.claim(
            session, consumer="tests.lease", worker_id="dead", lease_s=effects.LEASE_S
        )
        await session.commit()
    runner = EffectRunner(database, worker_id="alive")
    assert await runner.run_once() == 0
    clock.advance(effects.LEASE_S + 1)
    assert await runner.run_once() == 1
    assert len(runs) == 1


async def test_a_worker_still_running_an_effect_keeps_its_claim(
    database: Database, clock: FrozenClock
) -> None:
    """Leases are short so that a dead worker's effects run again within seconds;
    a live worker renews its lease for as long as the handler takes."""
    started, finish = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    @effect("tests.slow", event_types=[POKED])
    async def slow(ctx: EffectContext, event: ClaimedEvent) -> None:
        runs.append(event.event_id)
        started.set()
        await finish.wait()

    await record(database, POKED, 1)
    busy = EffectRunner(database, worker_id="busy", renew_every_s=0.05)
    other = EffectRunner(database, worker_id="other")
    running = asyncio.create_task(busy.run_once())
    await asyncio.wait_for(started.wait(), timeout=5)
    clock.advance(effects.LEASE_S + 1)  # without renewal, the claim would have run out

    async def lease_end() -> datetime:
        async with database.sessionmaker() as session:
            delivery = await session.scalar(select(OutboxDelivery))
            assert delivery is not None
            end: datetime = delivery.available_at
            return end

    for _ in range(500):  # the runner renews its lease every 0.05 s
        if await lease_end() > clock.now():
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the running worker did not renew its lease")
    assert await other.run_once() == 0  # still claimed: not run twice

    finish.set()
    assert await asyncio.wait_for(running, timeout=5) == 1
    clock.advance(effects.LEASE_S + 1)
    assert await other.run_once() == 0  # done, not re-run after the lease
    assert len(runs) == 1


async def test_a_running_worker_wakes_as_soon_as_an_event_commits(database: Database) -> None:
    handled = asyncio.Event()

    @effect("tests.wake", event_types=[POKED])
    async def handle(ctx: EffectContext, event: ClaimedEvent) -> None:
        handled.set()

    runner = EffectRunner(database)
    task = asyncio.create_task(runner.run_forever(poll_s=3600))
    await asyncio.sleep(0.05)  # the worker is now waiting out its (hour-long) poll
    await record(database, POKED, 1)
    await asyncio.wait_for(handled.wait(), timeout=5)
    runner.stop()
    await asyncio.wait_for(task, timeout=5)


async def delivery_done(database: Database, n: int) -> bool:
    """Whether the event numbered ``n`` was recorded and its delivery completed
    (deleted: nothing of it is left queued)."""
    async with database.sessionmaker() as session:
        numbers = [
            payload["n"]
            for payload in await session.scalars(
                select(OutboxEvent.payload).where(
                    ~select(OutboxDelivery.id)
                    .where(OutboxDelivery.event_id == OutboxEvent.id)
                    .exists()
                )
            )
        ]
    return n in numbers


async def test_an_effect_that_finished_is_not_run_again_when_its_round_is_cut_off(
    database: Database, clock: FrozenClock
) -> None:
    """Each finished effect is recorded done as it finishes, not once the round's
    slowest one has: a worker that dies while another effect of its round still runs
    leaves only that one to run again."""
    runs: list[int] = []
    slow_started = asyncio.Event()

    @effect("tests.mixed", event_types=[POKED])
    async def handle(ctx: EffectContext, event: ClaimedEvent) -> None:
        runs.append(event.payload["n"])
        if event.payload["n"] == 2 and event.attempts == 1:
            slow_started.set()
            await asyncio.Event().wait()  # runs until its worker dies

    await record(database, POKED, 1)
    await record(database, POKED, 2)
    dying = EffectRunner(database, worker_id="dying", renew_every_s=0.05)
    other = EffectRunner(database, worker_id="other")
    round_ = asyncio.create_task(dying.run_once())
    await asyncio.wait_for(slow_started.wait(), timeout=5)
    for _ in range(100):  # recorded within a few statements' time
        if await delivery_done(database, 1):
            break
        await asyncio.sleep(0.02)
    clock.advance(effects.LEASE_S + 1)
    await asyncio.sleep(0.3)  # a few renewals of the slow one's lease
    assert await other.run_once() == 0  # the slow one is still held, the fast one done

    round_.cancel()  # the worker dies mid-round
    with contextlib.suppress(asyncio.CancelledError):
        await round_
    clock.advance(effects.LEASE_S + 1)
    assert await other.run_once() == 1
    assert sorted(runs) == [1, 2, 2]  # the fast one ran once; the cut-off one again
