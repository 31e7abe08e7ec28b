"""One agent per call: a second agent attaching to a call that already has one is
refused (an ``error`` frame carrying a problem, then close code 4409); the same agent
(the same agent session or API key) reconnecting replaces its old connection, which
is closed with 4000. On SQLite (in-process bus) and PostgreSQL + Redis (the seat is a
Redis key)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.calls.factories import fund_wallet, outbox_payloads, place
from tests.calls.live.conftest import next_frame
from tests.calls.live.test_live_simulated import live_url, open_agent
from tests.identity.factories import make_tenant


async def closed_with(ws: ClientConnection) -> tuple[int | None, list[dict[str, Any]]]:
    """Frames received until the server closed the socket, and its close code."""
    frames: list[dict[str, Any]] = []
    while True:
        try:
            raw = await ws.recv()
        except ConnectionClosed:
            return ws.close_code, frames
        frames.append(orjson.loads(raw))


async def queued_call(
    app: FastAPI, client: httpx.AsyncClient
) -> tuple[str, dict[str, str], dict[str, str], Any]:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    _, agent = await open_agent(client, tenant)
    placed = await place(client, agent, "+14155551234", live_agent=True)
    assert placed.status_code == 201, placed.text
    return placed.json()["id"], agent, tenant.headers, tenant


async def test_a_second_agent_is_refused_while_one_is_attached(
    app: FastAPI, client: httpx.AsyncClient, server: str
) -> None:
    call_id, agent, owner, tenant = await queued_call(app, client)
    url = live_url(server, call_id)
    async with connect(url, additional_headers=agent) as first:
        assert (await next_frame(first))["type"] == "ready"
        # The owner's API key may see the call, but the call has its agent.
        async with connect(url, additional_headers=owner) as second:
            code, frames = await closed_with(second)
        assert code == 4409
        [refusal] = frames
        assert refusal["type"] == "error"
        assert refusal["code"] == "agent_already_attached"
        assert refusal["problem"]["status"] == 409
        assert refusal["problem"]["type"] == "/problems/conflict"
        assert "Another agent is attached" in refusal["problem"]["detail"]
        # The first agent is undisturbed: it still talks on the call.
        await first.send(orjson.dumps({"type": "say", "text": "Hello", "last": True}).decode())
        await first.ping()
    # Once it has gone (the server hears the close a moment later), another may attach.
    for _ in range(100):
        async with connect(url, additional_headers=owner) as later:
            if (await next_frame(later))["type"] == "ready":
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the seat was never freed")
    connected = await outbox_payloads(app, tenant, "call.live.connected")
    assert len(connected) == 2  # the refused attachment never connected


async def test_the_same_agent_reconnecting_replaces_its_old_connection(
    app: FastAPI, client: httpx.AsyncClient, server: str
) -> None:
    call_id, agent, owner, _ = await queued_call(app, client)
    url = live_url(server, call_id)
    async with connect(url, additional_headers=agent) as old:
        assert (await next_frame(old))["type"] == "ready"
        async with connect(url, additional_headers=agent) as new:
            assert (await next_frame(new))["type"] == "ready"
            code, frames = await closed_with(old)
            assert code == 4000
            assert old.close_reason == "replaced by a newer connection of this agent"
            assert all(frame["type"] != "replaced" for frame in frames)
            # The new connection holds the seat: a different agent is still refused.
            async with connect(url, additional_headers=owner) as other:
                other_code, _ = await closed_with(other)
            assert other_code == 4409
            # ...and the replaced connection's leaving did not free it.
            await new.ping()
            async with connect(url, additional_headers=owner) as again:
                again_code, _ = await closed_with(again)
            assert again_code == 4409
