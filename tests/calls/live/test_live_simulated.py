"""An agent talks on a simulated call over the live channel: the scripted callee
greets, answers, interrupts, presses digits and hangs up; the transcript holds both
speakers in order and the call is charged once.

The call is an outbound simulated call placed by the agent session through the API
(the inbound path was not committed when this was written)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from commbase.calls.live import callee
from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import fund_wallet, outbox_payloads, outbox_types, place, run_clock
from tests.calls.live.conftest import next_frame, say
from tests.identity.factories import Tenant, auth, make_tenant


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def open_agent(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict[str, str]]:
    created = await client.post(
        "/v1/agent-sessions",
        json={
            "agent_context": {"agent_id": "receptionist"},
            "user_consent": {"calling_authorized": True},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], auth(created.json()["session_token"])


async def answered_call(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, headers: dict[str, str], to: str
) -> dict[str, Any]:
    placed = await place(client, headers, to, live_agent=True)
    assert placed.status_code == 201, placed.text
    assert placed.json()["live_agent"] is True
    await run_clock(app, clock, 6)  # the simulator answers after 5 s
    call: dict[str, Any] = (
        await client.get(f"/v1/calls/{placed.json()['id']}", headers=headers)
    ).json()
    assert call["status"] == "in-progress"
    return call


def live_url(server: str, call_id: str) -> str:
    return f"ws://{server}/v1/calls/{call_id}/live"


async def test_an_agent_holds_three_turns_and_hangs_up(
    app: FastAPI, client: httpx.AsyncClient, server: str, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    agent_id, agent = await open_agent(client, tenant)
    call = await answered_call(app, client, clock, agent, "+14155551234")

    heard: list[str] = []
    async with connect(live_url(server, call["id"]), additional_headers=agent) as ws:
        ready = await next_frame(ws)
        assert (ready["type"], ready["call_id"], ready["status"]) == (
            "ready",
            call["id"],
            "in-progress",
        )
        greeting = await next_frame(ws)
        assert greeting["type"] == "utterance"
        assert (greeting["speaker"], greeting["text"], greeting["final"]) == (
            "callee",
            callee.GREETING,
            True,
        )
        assert greeting["confidence"] == callee.CONFIDENCE
        assert greeting["language"] == "en-US"
        turns = [
            "Hi, this is Ada from Bright Dental.",
            "When would you like your cleaning?",
            "Booked for Tuesday at three.",
        ]
        for turn in turns:
            clock.advance(20)
            await say(ws, turn)
            reply = await next_frame(ws)
            assert reply["type"] == "utterance", reply
            heard.append(reply["text"])
        assert heard == list(callee.ANSWERS)
        clock.advance(5)
        await ws.send(orjson.dumps({"type": "hangup"}).decode())
        ended = await next_frame(ws)
        assert (ended["type"], ended["end_reason"]) == ("ended", "agent_hangup")
        with pytest.raises(ConnectionClosed):
            await next_frame(ws)
        assert ws.close_code == 1000

    done = (await client.get(f"/v1/calls/{call['id']}", headers=agent)).json()
    assert done["status"] == "completed"
    assert done["duration_seconds"] == 66  # answered at 5 s, clock at 6 s, 3 x 20 s, 5 s
    assert done["billable_minutes"] == 2
    ledger = await client.get(f"/v1/transactions?call_id={call['id']}", headers=tenant.headers)
    [charge] = ledger.json()["data"]
    assert charge["amount"] == 25 == done["cost_amount"]
    after = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (after["balance"], after["held"]) == (975, 0)

    transcript = (await client.get(f"/v1/calls/{call['id']}/transcript", headers=agent)).json()
    spoken = [(s["speaker"], s["text"]) for s in transcript["segments"]]
    assert spoken == [
        ("callee", callee.GREETING),
        ("agent", turns[0]),
        ("callee", callee.ANSWERS[0]),
        ("agent", turns[1]),
        ("callee", callee.ANSWERS[1]),
        ("agent", turns[2]),
        ("callee", callee.ANSWERS[2]),
    ]
    starts = [s["start"] for s in transcript["segments"]]
    assert starts == sorted(starts)
    assert (starts[0], starts[-1]) == (1.0, 61.0)  # seconds from the answer
    assert transcript["segments"][0]["confidence"] == callee.CONFIDENCE
    assert transcript["status"] == "completed"
    # Searchable as soon as it was said.
    found = await client.get("/v1/transcripts/search", params={"q": "cleaning"}, headers=agent)
    assert [hit["call_id"] for hit in found.json()["data"]] == [call["id"]]

    types = await outbox_types(app, tenant)
    assert types.count("call.live.connected") == 2  # the agent and the simulated callee
    assert types.count("call.live.disconnected") == 2
    assert 1 <= types.count("transcription.updated") <= 3  # throttled, not one per line
    [connected, *_] = await outbox_payloads(app, tenant, "call.live.connected")
    assert connected["agent_session_id"] == agent_id


async def test_the_callee_interrupts_presses_digits_and_hangs_up(
    app: FastAPI, client: httpx.AsyncClient, server: str, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=3000)
    interrupter = await answered_call(app, client, clock, tenant.headers, "+14155550005")
    async with connect(
        live_url(server, interrupter["id"]), additional_headers=tenant.headers
    ) as ws:
        await next_frame(ws)  # ready
        await next_frame(ws)  # greeting
        await say(ws, "Hello there.")
        assert (await next_frame(ws))["text"] == callee.ANSWERS[0]
        await ws.send(orjson.dumps({"type": "say", "text": "Let me tell ", "last": False}).decode())
        interrupt = await next_frame(ws)
        assert (interrupt["type"], interrupt["heard"]) == ("interrupt", "Let me tell ")
        assert (await next_frame(ws))["text"] == callee.INTERRUPTION

    keypad = await answered_call(app, client, clock, tenant.headers, "+14155550006")
    async with connect(live_url(server, keypad["id"]), additional_headers=tenant.headers) as ws:
        await next_frame(ws)
        await next_frame(ws)
        await say(ws, "Press your account number.")
        digits = [await next_frame(ws) for _ in callee.KEYPAD_DIGITS]
        assert [(d["type"], d["digit"]) for d in digits] == [
            ("dtmf", "4"),
            ("dtmf", "2"),
            ("dtmf", "#"),
        ]

    quitter = await answered_call(app, client, clock, tenant.headers, "+14155550007")
    async with connect(live_url(server, quitter["id"]), additional_headers=tenant.headers) as ws:
        await next_frame(ws)
        await next_frame(ws)
        clock.advance(30)
        await say(ws, "Are you interested in our offer?")
        ended = await next_frame(ws)
        assert (ended["type"], ended["end_reason"]) == ("ended", "callee_hangup")
    done = (await client.get(f"/v1/calls/{quitter['id']}", headers=tenant.headers)).json()
    assert (done["status"], done["end_reason"], done["duration_seconds"]) == (
        "completed",
        "callee_hangup",
        31,  # answered 1 s before the agent attached
    )


async def test_an_agent_reaches_only_calls_it_may_see(
    app: FastAPI, client: httpx.AsyncClient, server: str, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    _, agent = await open_agent(client, tenant)
    _, colleague = await open_agent(client, tenant)
    call = await answered_call(app, client, clock, agent, "+14155551234")
    url = live_url(server, call["id"])
    for headers in (
        colleague,  # another agent session of the same organization
        other.headers,  # another organization's key
        {},  # no credential
        auth("cb_live_not-a-key"),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with connect(live_url(server, "call_unknown"), additional_headers=agent):
            pass
    # The organization's own key may attach.
    async with connect(url, additional_headers=tenant.headers) as ws:
        assert (await next_frame(ws))["type"] == "ready"


async def test_bad_frames_answer_errors_and_the_channel_stays_open(
    app: FastAPI, client: httpx.AsyncClient, server: str, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call = await answered_call(app, client, clock, tenant.headers, "+14155551234")
    async with connect(live_url(server, call["id"]), additional_headers=tenant.headers) as ws:
        await next_frame(ws)
        await next_frame(ws)
        for bad, code in (
            ("not json", "invalid_json"),
            ("[1, 2]", "invalid_message"),
            ('{"type": "shout"}', "invalid_message"),
            ('{"type": "dtmf", "digits": "12X"}', "invalid_message"),
            ('{"type": "play", "url": "http://insecure.example/a.mp3"}', "invalid_message"),
            ('{"type": "transfer"}', "invalid_message"),
            ('{"type": "transfer", "to": "+14155550100", "member_id": "usr_1"}', "invalid_message"),
            ('{"type": "transfer", "member_id": "usr_nobody"}', "transfer_refused"),
        ):
            await ws.send(bad)
            error = await next_frame(ws)
            assert (error["type"], error["code"]) == ("error", code), bad
        await say(ws, "Still here?")
        assert (await next_frame(ws))["text"] == callee.ANSWERS[0]
        await ws.send(orjson.dumps({"type": "say", "text": "x" * 9000}).decode())
        with pytest.raises(ConnectionClosed):
            await next_frame(ws)
        assert ws.close_code == 1009
