"""The shared background loop: survives a failing round, stops when told."""

from __future__ import annotations

import asyncio

from commbase.core.loops import repeat


async def test_a_failing_round_does_not_end_the_loop_and_stop_ends_it() -> None:
    stop = asyncio.Event()
    rounds: list[int] = []

    async def step() -> int:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("first round breaks")
        if len(rounds) == 3:
            stop.set()
        return 0

    await asyncio.wait_for(repeat(step, stop=stop, pause_s=0.001, name="test"), timeout=5)
    assert rounds == [0, 1, 2]


async def test_busy_rounds_follow_at_once_and_idle_ones_pause() -> None:
    stop = asyncio.Event()
    work = [3, 2, 0]
    done: list[int] = []

    async def step() -> int:
        amount = work.pop(0) if work else 0
        done.append(amount)
        if not work:
            stop.set()
        return amount

    # A pause this long would time the test out if busy rounds waited for it.
    await asyncio.wait_for(
        repeat(step, stop=stop, pause_s=60, name="test", again_when_busy=True), timeout=5
    )
    assert done == [3, 2, 0]
