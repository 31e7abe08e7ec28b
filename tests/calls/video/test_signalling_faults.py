"""The signalling socket's bookkeeping runs whatever stops it, and a late close of a
replaced socket neither disconnects the participant nor tells peers it left."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from commbase.calls.video import service as video_service
from commbase.calls.video import signalling
from commbase.calls.video.models import VideoParticipant
from tests.calls.video.conftest import frame_of, new_room, send, signal
from tests.identity.factories import make_tenant


async def participant(app: FastAPI, pid: str) -> VideoParticipant:
    async with app.state.db.sessionmaker() as session:
        row: VideoParticipant | None = await session.scalar(
            select(VideoParticipant).where(VideoParticipant.id == pid)
        )
        assert row is not None
        return row


async def test_a_failure_while_serving_still_records_the_disconnection(
    app: FastAPI, client: httpx.AsyncClient, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()

    async def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("the database went away")

    monkeypatch.setattr(video_service, "screen_share", broken)
    async with connect(signal(server, room["id"], agent["access_token"])) as ws:
        await frame_of(ws, "welcome")
        assert (await participant(app, agent["participant_id"])).connected_at is not None
        await send(ws, type="screen_share", active=True)
        with pytest.raises(ConnectionClosed) as closed:
            await frame_of(ws, "never")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    row = await participant(app, agent["participant_id"])
    assert row.connected_at is None
    assert row.disconnected_at is not None


async def test_a_late_close_of_a_replaced_socket_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()
    pid = agent["participant_id"]
    for _ in range(2):  # the page reloaded: socket 2 replaced socket 1
        async with app.state.db.sessionmaker() as session:
            await video_service.connected(session, participant_id=pid, org_id=tenant.org_id)
            await session.commit()

    async def close(number: int) -> bool:
        async with app.state.db.sessionmaker() as session:
            current = await video_service.disconnected(
                session,
                org_id=tenant.org_id,
                room_id=room["id"],
                participant_id=pid,
                left=False,
                connection=number,
            )
            await session.commit()
            return current

    assert await close(1) is False
    assert (await participant(app, pid)).connected_at is not None
    assert await close(2) is True
    assert (await participant(app, pid)).connected_at is None


async def test_screen_share_frames_are_taken_once_a_second(
    app: FastAPI, client: httpx.AsyncClient, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The socket's clock stands still: however long each frame's transaction takes
    # on a loaded machine, no token comes back during the burst.
    monkeypatch.setattr(signalling, "time", SimpleNamespace(monotonic=lambda: 1_000.0))
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    agent = (await client.post(f"/v1/video/rooms/{room['id']}/join", headers=tenant.headers)).json()
    async with connect(signal(server, room["id"], agent["access_token"])) as ws:
        await frame_of(ws, "welcome")
        for active in (True, False, True, False):  # a burst of three is taken
            await send(ws, type="screen_share", active=active)
        refused = await frame_of(ws, "error")
        assert refused["title"] == "rate_limited"
    shown = (await client.get(f"/v1/video/rooms/{room['id']}", headers=tenant.headers)).json()
    assert shown["screen_share_used"] is True
