"""The organization's maximum call duration holds on live calls: the live bridge ends
a call that reaches it through its carrier (ConversationRelay calls have no time limit
at Twilio), here on the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from commbase.calls.live import callee
from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import fund_wallet, outbox_types
from tests.calls.live.conftest import next_frame, say
from tests.identity.factories import make_tenant

NUMBER = "+14155550160"
CALLER = "+14155550109"
LIMIT_S = 120


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def test_a_live_call_ends_at_the_organizations_maximum_duration(
    app: FastAPI, client: httpx.AsyncClient, server: str, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1_000)
    changed = await client.patch(
        "/v1/organizations/current",
        json={"settings": {"ai_settings": {"max_call_duration": LIMIT_S}}},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    number = await client.post(
        "/v1/phone-numbers", json={"number": NUMBER, "agent_id": "desk"}, headers=tenant.headers
    )
    rung = await client.post(
        f"/v1/phone-numbers/{number.json()['id']}/simulate-inbound",
        json={"from": CALLER, "duration_s": 3_600},
        headers=tenant.headers,
    )
    assert rung.status_code == 201, rung.text
    call = rung.json()["call"]
    assert call["max_duration_seconds"] == LIMIT_S

    async with connect(
        f"ws://{server}/v1/calls/{call['id']}/live", additional_headers=tenant.headers
    ) as ws:
        assert (await next_frame(ws))["type"] == "ready"
        assert (await next_frame(ws))["text"] == callee.GREETING
        clock.advance(LIMIT_S - 30)
        await say(ws, "Hello, this is Ada from Bright Dental.")
        assert (await next_frame(ws))["text"] == callee.ANSWERS[0]
        clock.advance(30)  # the limit
        ended = await next_frame(ws)
        assert (ended["type"], ended["status"], ended["end_reason"]) == (
            "ended",
            "completed",
            "timeout",
        )

    done = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
    assert (done["status"], done["end_reason"], done["duration_seconds"]) == (
        "completed",
        "timeout",
        LIMIT_S,
    )
    assert done["billable_minutes"] == 2
    assert (await outbox_types(app, tenant)).count("call.completed") == 1
