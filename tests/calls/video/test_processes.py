"""Two API processes (two apps, each with its own server and bus, sharing the database
and Redis): the agent's socket on one, the guest's on the other; signalling crosses
through Redis pub/sub, and so does the room's end. Only on PostgreSQL + Redis."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from commbase.app import create_app
from commbase.calls.video.bus import RedisBus, video_bus_of
from commbase.settings import Settings
from tests.calls.live.test_live_processes import served
from tests.calls.video.conftest import frame_of, guest_join, new_room, send, signal
from tests.identity.factories import make_tenant


async def test_agent_and_guest_on_different_processes(
    app: FastAPI, client: httpx.AsyncClient, server: str, settings: Settings, stack: str
) -> None:
    if stack != "postgresql" or not settings.redis_url:
        pytest.skip("several processes need PostgreSQL and Redis")
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()
    guest = (await guest_join(client, room["guest_token"], name="Ada")).json()
    other = create_app(settings)
    async with LifespanManager(other), served(other) as other_server:
        assert isinstance(video_bus_of(app), RedisBus)
        assert video_bus_of(other) is not video_bus_of(app)
        async with (
            connect(signal(server, room["id"], agent["access_token"])) as a,
            connect(signal(other_server, room["id"], guest["access_token"])) as g,
        ):
            await frame_of(a, "welcome")
            await frame_of(g, "welcome")
            joined = await frame_of(a, "peer_joined")
            assert joined["participant"]["participant_id"] == guest["participant_id"]
            await send(g, type="offer", to=agent["participant_id"], sdp="v=0 from far")
            assert await frame_of(a, "offer") == {
                "type": "offer",
                "from": guest["participant_id"],
                "sdp": "v=0 from far",
            }
            # The end, asked of the first process, closes the socket on the second.
            ended = await client.post(f"/v1/video/rooms/{room['id']}/end", headers=tenant.headers)
            assert ended.status_code == 200
            assert await frame_of(g, "room_ended") == {"type": "room_ended"}
            with pytest.raises(ConnectionClosed):
                await frame_of(g)
