"""Connect-out mode: commbase connects to the agent's own WebSocket server, signs the
handshake (the agent verifies it with ``verify_handshake``) and relays the call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from commbase.calls.live import callee
from commbase.calls.live.connect_out import connect_out, handshake_headers, verify_handshake
from commbase.calls.live.context import LiveContext
from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import fund_wallet, outbox_payloads, place, run_clock
from tests.identity.factories import make_tenant

SECRET = "agent-shared-secret"


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


def test_the_handshake_signature_verifies_only_with_the_secret_url_and_time() -> None:
    url = "wss://agent.example/talk"
    headers = handshake_headers(SECRET, call_id="call_1", url=url, now=1_764_000_000)
    assert verify_handshake(SECRET, headers=headers, url=url, now=1_764_000_100)
    assert not verify_handshake("other", headers=headers, url=url, now=1_764_000_100)
    assert not verify_handshake(SECRET, headers=headers, url=url + "x", now=1_764_000_100)
    assert not verify_handshake(SECRET, headers=headers, url=url, now=1_764_000_301)
    assert not verify_handshake(SECRET, headers={**headers, "X-Commbase-Call": "call_2"}, url=url)
    assert not verify_handshake(SECRET, headers={}, url=url)


async def test_commbase_connects_out_to_the_agent_and_relays_the_call(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    placed = await place(client, tenant.headers, "+14155551234", live_agent=True)
    call_id = placed.json()["id"]
    await run_clock(app, clock, 6)
    ctx = LiveContext.of(app)
    ctx.callee_pace_s, ctx.status_poll_s = 0.0, 0.05
    heard: list[dict[str, Any]] = []
    handshakes: list[bool] = []

    def check(connection: ServerConnection, request: Request) -> Response | None:
        url = f"ws://127.0.0.1:{connection.local_address[1]}{request.path}"
        valid = verify_handshake(SECRET, headers=request.headers, url=url)
        handshakes.append(valid)
        return None if valid else connection.respond(403, "not commbase\n")

    async def agent(connection: ServerConnection) -> None:
        async for raw in connection:
            frame = orjson.loads(raw)
            heard.append(frame)
            if frame["type"] == "utterance" and frame["text"] == callee.GREETING:
                await connection.send(orjson.dumps({"type": "say", "text": "Hi, Ada here."}))
            elif frame["type"] == "utterance":
                await connection.send(orjson.dumps({"type": "hangup"}))

    async with serve(agent, "127.0.0.1", 0, process_request=check) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}/agents/ada"
        target = {"org_id": tenant.org_id, "call_id": call_id, "url": url}
        assert await connect_out(ctx, **target, secret="not-the-secret") == "unreachable"
        reason = await connect_out(ctx, **target, secret=SECRET)

    assert handshakes == [False, True]
    assert reason == "agent_hangup"
    assert [f["type"] for f in heard] == ["ready", "utterance", "utterance", "ended"]
    assert heard[2]["text"] == callee.ANSWERS[0]
    done = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert done["status"] == "completed"
    sides = [e["side"] for e in await outbox_payloads(app, tenant, "call.live.connected")]
    assert sorted(sides) == ["agent", "carrier"]
