"""The shared background loop: survives a failing round, stops when told."""

from __future__ import annotations

import asyncio
import itertools

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


async def test_rounds_failing_in_a_row_back_off_and_a_good_round_resets_the_pause() -> None:
    stop = asyncio.Event()
    started: list[float] = []
    loop = asyncio.get_running_loop()

    async def step() -> int:
        started.append(loop.time())
        if len(started) == 6:
            stop.set()
        if len(started) <= 4:
            raise RuntimeError("database away")
        return 0

    await asyncio.wait_for(repeat(step, stop=stop, pause_s=0.01, name="test"), timeout=10)
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    # At least 0.1, 0.2, 0.4, 0.8 s after the four failures (a busy machine only adds);
    # after a good round the pause is pause_s again.
    for gap, least in zip(gaps[:4], [0.1, 0.2, 0.4, 0.8], strict=True):
        assert gap >= least * 0.95
    assert gaps[4] < 0.4
