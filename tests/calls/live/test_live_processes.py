"""Two API processes (two apps, each with its own uvicorn server and bus, sharing the
database and Redis): the agent attaches to one, Twilio's ConversationRelay to the
other, and frames cross through Redis pub/sub. Only on the PostgreSQL + Redis stack
(one process serves SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from websockets.asyncio.client import connect

from commbase.app import create_app
from commbase.calls.live.bus import RedisBus
from commbase.calls.live.context import LiveContext
from commbase.settings import Settings
from tests.calls.factories import dial_queued, fund_wallet, place
from tests.calls.live.conftest import next_frame, say
from tests.calls.live.test_live_twilio import install_twilio, signed
from tests.calls.live.test_live_twilio import settings as twilio_settings
from tests.identity.factories import make_tenant

settings = twilio_settings


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_an_agent_and_the_carrier_on_different_processes_are_bridged(
    app: FastAPI, client: httpx.AsyncClient, server: str, settings: Settings, stack: str
) -> None:
    if stack != "postgresql" or not settings.redis_url:
        pytest.skip("several processes need PostgreSQL and Redis")
    api = install_twilio(app, settings)
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    placed = await place(client, tenant.headers, "+14155551234", live_agent=True)
    call_id = placed.json()["id"]
    assert await dial_queued(app) == 1
    assert len(api.requests) == 1
    other = create_app(settings)
    async with LifespanManager(other), served(other) as other_server:
        assert isinstance(LiveContext.of(app).bus, RedisBus)
        assert LiveContext.of(other).bus is not LiveContext.of(app).bus
        async with (
            connect(
                f"ws://{server}/v1/calls/{call_id}/live", additional_headers=tenant.headers
            ) as agent,
            connect(
                f"ws://{other_server}/v1/providers/twilio/relay/{call_id}",
                additional_headers=signed(call_id),
            ) as twilio,
        ):
            assert (await next_frame(agent))["type"] == "ready"
            prompt: dict[str, Any] = {
                "type": "prompt",
                "voicePrompt": "Anyone there?",
                "last": True,
            }
            await twilio.send(orjson.dumps(prompt).decode())
            heard = await next_frame(agent)
            assert (heard["type"], heard["text"]) == ("utterance", "Anyone there?")
            await say(agent, "Yes, hello!")
            tokens = [orjson.loads(await twilio.recv()) for _ in range(2)]
            assert [(t["type"], t["token"], t["last"]) for t in tokens] == [
                ("text", "Yes, ", False),
                ("text", "hello!", True),
            ]
