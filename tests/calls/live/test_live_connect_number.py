"""A connect number (``answer_mode`` connect): the number gets a handshake secret,
shown once; a call to it is bridged at once to the agent's own ``wss://`` server,
which verifies commbase's signed handshake and talks with the caller."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import trustme
from fastapi import FastAPI
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from commbase.calls.live import callee
from commbase.calls.live.connect_out import verify_handshake
from commbase.calls.live.connect_start import TASKS_KEY
from commbase.calls.live.context import LiveContext
from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import fund_wallet, outbox_payloads
from tests.identity.factories import make_tenant

NUMBER = "+14155550150"
CALLER = "+14155550108"
TURNS = (
    "Bright Dental, this is Ada. How can I help?",
    "I can book your cleaning. Which day suits you?",
    "Done: Tuesday at three. We will text you.",
)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


async def test_a_call_to_a_connect_number_reaches_the_agents_server_signed(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1_000)
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_tls)
    ctx = LiveContext.of(app)
    ctx.connect_ssl = ssl.create_default_context()
    ca.configure_trust(ctx.connect_ssl)
    ctx.callee_pace_s, ctx.status_poll_s = 0.0, 0.05
    heard: list[dict[str, Any]] = []
    handshakes: list[bool] = []
    secret: dict[str, str] = {}
    finished = asyncio.Event()

    def check(connection: ServerConnection, request: Request) -> Response | None:
        url = f"wss://localhost:{connection.local_address[1]}{request.path}"
        valid = verify_handshake(secret["now"], headers=request.headers, url=url)
        handshakes.append(valid)
        return None if valid else connection.respond(403, "not commbase\n")

    async def agent(connection: ServerConnection) -> None:
        said = 0
        try:
            async for raw in connection:
                frame = orjson.loads(raw)
                heard.append(frame)
                if frame["type"] != "utterance":
                    continue
                clock.advance(10)
                if said == len(TURNS):
                    await connection.send(orjson.dumps({"type": "hangup"}).decode())
                    continue
                message = {"type": "say", "text": TURNS[said], "last": True}
                await connection.send(orjson.dumps(message).decode())
                said += 1
        finally:
            finished.set()

    async with serve(agent, "localhost", 0, process_request=check, ssl=server_tls) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"wss://localhost:{port}/agents/ada"
        created = await client.post(
            "/v1/phone-numbers",
            json={"number": NUMBER, "answer_mode": "connect", "connect_url": url},
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        number = created.json()
        first = number["connect_secret"]
        assert first.startswith("cbcs_")
        shown = await client.get(f"/v1/phone-numbers/{number['id']}", headers=tenant.headers)
        assert shown.json()["connect_secret"] is None  # shown once
        rotated = await client.patch(
            f"/v1/phone-numbers/{number['id']}",
            json={"rotate_connect_secret": True},
            headers=tenant.headers,
        )
        assert rotated.status_code == 200, rotated.text
        secret["now"] = rotated.json()["connect_secret"]
        assert secret["now"].startswith("cbcs_")
        assert secret["now"] != first

        rung = await client.post(
            f"/v1/phone-numbers/{number['id']}/simulate-inbound",
            json={"from": CALLER},
            headers=tenant.headers,
        )
        assert rung.status_code == 201, rung.text
        assert rung.json()["route"] == "connect"
        call_id = rung.json()["call"]["id"]
        await asyncio.wait_for(finished.wait(), 10)
        tasks = list(ctx.services.get(TASKS_KEY, ()))
        reasons = [await asyncio.wait_for(task, 10) for task in tasks]

    assert handshakes == [True]
    assert reasons in ([], ["agent_hangup"])  # [] once the task was already done
    callee_lines = [f["text"] for f in heard if f["type"] == "utterance"]
    assert callee_lines == [callee.GREETING, *callee.ANSWERS]
    done = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert (done["direction"], done["status"]) == ("inbound", "completed")
    transcript = (
        await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
    ).json()
    assert [(s["speaker"], s["text"]) for s in transcript["segments"]] == [
        ("callee", callee.GREETING),
        ("agent", TURNS[0]),
        ("callee", callee.ANSWERS[0]),
        ("agent", TURNS[1]),
        ("callee", callee.ANSWERS[1]),
        ("agent", TURNS[2]),
        ("callee", callee.ANSWERS[2]),
    ]
    sides = [e["side"] for e in await outbox_payloads(app, tenant, "call.live.connected")]
    assert sorted(sides) == ["agent", "carrier"]


async def test_only_connect_numbers_have_a_secret_to_rotate(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    created = await client.post(
        "/v1/phone-numbers", json={"number": NUMBER, "agent_id": "desk"}, headers=tenant.headers
    )
    assert created.json()["connect_secret"] is None
    number_id = created.json()["id"]
    refused = await client.patch(
        f"/v1/phone-numbers/{number_id}",
        json={"rotate_connect_secret": True},
        headers=tenant.headers,
    )
    assert refused.status_code == 422, refused.text
    changed = await client.patch(
        f"/v1/phone-numbers/{number_id}",
        json={"answer_mode": "connect", "connect_url": "wss://agent.example/talk"},
        headers=tenant.headers,
    )
    assert changed.json()["connect_secret"].startswith("cbcs_")
    again = await client.patch(
        f"/v1/phone-numbers/{number_id}", json={"friendly_name": "Desk"}, headers=tenant.headers
    )
    assert again.json()["connect_secret"] is None


async def test_a_call_whose_agent_cannot_be_reached_is_hung_up(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1_000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    closed_port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    created = await client.post(
        "/v1/phone-numbers",
        json={
            "number": NUMBER,
            "answer_mode": "connect",
            "connect_url": f"wss://localhost:{closed_port}/agent",
        },
        headers=tenant.headers,
    )
    rung = await client.post(
        f"/v1/phone-numbers/{created.json()['id']}/simulate-inbound",
        json={"from": CALLER},
        headers=tenant.headers,
    )
    call_id = rung.json()["call"]["id"]
    tasks = list(LiveContext.of(app).services.get(TASKS_KEY, ()))
    assert [await asyncio.wait_for(task, 10) for task in tasks] in ([], ["unreachable"])
    for _ in range(100):
        done = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
        if done["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert (done["status"], done["duration_seconds"]) == ("completed", 0)
