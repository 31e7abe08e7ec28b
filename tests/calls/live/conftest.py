"""A real uvicorn server around the test app, for WebSocket clients (the ``websockets``
library) to connect to, as agents and carriers do."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection

from commbase.calls.live.context import LiveContext


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[str]:
    """``host:port`` of a uvicorn server running ``app`` (its lifespan already runs)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio")
    uvicorn_server = uvicorn.Server(config)
    # Signals stay pytest's: the server runs inside the test's event loop.
    uvicorn_server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
    while not uvicorn_server.started:  # noqa: ASYNC110  (uvicorn offers no event)
        await asyncio.sleep(0.01)
    # Tests do not wait for the callee to think, and hear status changes quickly.
    ctx = LiveContext.of(app)
    ctx.callee_pace_s = 0.0
    ctx.status_poll_s = 0.05
    yield f"127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    await task
    sock.close()


async def next_frame(
    ws: ClientConnection, *, skip: tuple[str, ...] = ("status",)
) -> dict[str, Any]:
    """The next frame whose type is not in ``skip``."""
    while True:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] not in skip:
            return frame


async def say(ws: ClientConnection, text: str) -> None:
    """Speak ``text`` as a stream of word tokens, the last one flagged."""
    words = text.split(" ")
    for index, word in enumerate(words):
        last = index == len(words) - 1
        token = word if last else word + " "
        await ws.send(orjson.dumps({"type": "say", "text": token, "last": last}).decode())
