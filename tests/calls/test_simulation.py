"""The simulator's pass takes the calls it can move: queued calls whose dial has not
reached the carrier yet have no script and do not fill its batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from commbase.calls import simulation
from commbase.calls.providers import DialNotSent
from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import (
    ANSWERED_94S,
    RecordingCarrier,
    dial_queued,
    fund_wallet,
    install_carrier,
    place,
)
from tests.identity.factories import make_tenant


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def test_queued_calls_not_dialed_yet_do_not_hold_up_dialed_ones(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    carrier = install_carrier(app, RecordingCarrier(fail_with=DialNotSent("no route")))
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    waiting = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    await dial_queued(app)  # the carrier was not reached: retried in 2 s
    carrier.fail_with = None
    dialed = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    await dial_queued(app)  # only the second call's dial is due
    assert [call_id for call_id, _ in carrier.dials] == [waiting, dialed]

    # A batch of one: the older call, still queued without a script, is not taken.
    monkeypatch.setattr(simulation, "BATCH", 1)
    clock.advance(1.5)
    assert await simulation.advance_simulated_calls(app.state.db, now=clock.now()) >= 1
    shown = {
        call_id: (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
        for call_id in (waiting, dialed)
    }
    assert shown[waiting]["status"] == "queued"
    assert shown[dialed]["status"] in {"initiated", "ringing"}
