"""Video rooms' fixtures: settings with STUN, TURN and LiveKit configured, a uvicorn
server for WebSocket clients (``tests.calls.live``'s), and helpers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from commbase.settings import Settings
from tests.calls.factories import fund_wallet
from tests.calls.live.conftest import server  # noqa: F401  (the uvicorn fixture)
from tests.conftest import make_settings
from tests.identity.factories import Tenant

TURN_SECRET = "turn-shared-secret-for-tests"
LIVEKIT_KEY = "APItestkey"
LIVEKIT_SECRET = "livekit-test-secret-that-is-long-enough-0123456789"


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        video_stun_urls=["stun:stun.example.test:3478"],
        video_turn_urls=["turn:turn.example.test:3478?transport=udp"],
        video_turn_secret=TURN_SECRET,
        livekit_url="wss://livekit.example.test",
        livekit_api_key=LIVEKIT_KEY,
        livekit_api_secret=LIVEKIT_SECRET,
        public_base_url="https://commbase.example.test",
    )


async def new_room(
    client: httpx.AsyncClient, tenant: Tenant, *, fund: bool = True, **body: Any
) -> dict[str, Any]:
    if fund:
        await fund_wallet(client, tenant.headers, amount=10_000)
    created = await client.post("/v1/video/rooms", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    room: dict[str, Any] = created.json()
    return room


async def guest_join(client: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    return await client.post("/v1/video/guest/join", json={"token": token, **body})


async def frame_of(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    """The next frame (of type ``kind``, skipping others)."""
    while True:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if kind is None or frame["type"] == kind:
            return frame


def signal(host: str, room_id: str, token: str) -> str:
    return f"ws://{host}/v1/video/rooms/{room_id}/signal?access_token={token}"


async def send(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(orjson.dumps(frame).decode())
