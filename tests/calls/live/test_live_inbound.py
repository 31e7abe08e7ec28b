"""End to end on an inbound call: a caller rings the organization's simulator number
(the inbound simulator), a test agent attaches over the live channel, holds three
turns with the scripted caller and hangs up; the transcript has both speakers in
order; the call is charged once, at the inbound rate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from commbase.calls.live import callee
from commbase.core.money import cost_of
from commbase.core.time import FrozenClock, use_clock
from commbase.settings import Settings
from tests.calls.factories import fund_wallet, outbox_types
from tests.calls.live.conftest import next_frame, say
from tests.conftest import make_settings
from tests.identity.factories import make_tenant

NUMBER = "+14155550140"
CALLER = "+14155550107"
RATE = Decimal("0.05")


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(database_url, redis_url, inbound_rate_per_minute=RATE)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def test_an_agent_answers_an_inbound_call_for_three_turns_and_hangs_up(
    app: FastAPI, client: httpx.AsyncClient, server: str, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1_000)
    number = await client.post(
        "/v1/phone-numbers", json={"number": NUMBER, "agent_id": "desk"}, headers=tenant.headers
    )
    assert number.status_code == 201, number.text
    rung = await client.post(
        f"/v1/phone-numbers/{number.json()['id']}/simulate-inbound",
        json={"from": CALLER},
        headers=tenant.headers,
    )
    assert rung.status_code == 201, rung.text
    call = rung.json()["call"]
    assert (call["direction"], call["status"]) == ("inbound", "in-progress")

    turns = [
        "Bright Dental, this is Ada. How can I help?",
        "I can book your cleaning. Which day suits you?",
        "Done: Tuesday at three. We will text you.",
    ]
    url = f"ws://{server}/v1/calls/{call['id']}/live"
    async with connect(url, additional_headers=tenant.headers) as ws:
        ready = await next_frame(ws)
        assert (ready["type"], ready["direction"]) == ("ready", "inbound")
        assert (await next_frame(ws))["text"] == callee.GREETING
        for turn, answer in zip(turns, callee.ANSWERS, strict=True):
            clock.advance(20)
            await say(ws, turn)
            reply = await next_frame(ws)
            heard = (reply["type"], reply["speaker"], reply["text"])
            assert heard == ("utterance", "callee", answer)
        await ws.send(orjson.dumps({"type": "hangup"}).decode())
        assert (await next_frame(ws))["type"] == "ended"
        with pytest.raises(ConnectionClosed):
            await next_frame(ws)

    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert (done["status"], done["duration_seconds"], done["billable_minutes"]) == (
        "completed",
        60,
        1,
    )
    assert done["cost_amount"] == cost_of(1, RATE, "USD") == 5
    entries = await client.get(f"/v1/transactions?call_id={call['id']}", headers=tenant.headers)
    assert [e["amount"] for e in entries.json()["data"]] == [5]
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (1_000 - 5, 0)
    assert (await outbox_types(app, tenant)).count("call.completed") == 1

    transcript = (
        await client.get(f"/v1/calls/{call['id']}/transcript", headers=tenant.headers)
    ).json()
    assert [(s["speaker"], s["text"]) for s in transcript["segments"]] == [
        ("callee", callee.GREETING),
        ("agent", turns[0]),
        ("callee", callee.ANSWERS[0]),
        ("agent", turns[1]),
        ("callee", callee.ANSWERS[1]),
        ("agent", turns[2]),
        ("callee", callee.ANSWERS[2]),
    ]
