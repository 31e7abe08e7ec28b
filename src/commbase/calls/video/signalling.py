"""The signalling WebSocket: ``GET /v1/video/rooms/{room_id}/signal?access_token=cb_vpt_...``.

Browsers cannot set headers on a WebSocket, so the participant's short-lived,
single-room access token comes in the query (``Authorization: Bearer`` works too).
The socket is accepted and then closed at once with 4401 (no valid token), 4403 (a
token for another room, hence for another organization's room too) or 4410 (the
room has ended, or the participant left it), so a browser can read why.

``screen_share`` frames are taken at one a second (bursts of three); one past that is
refused with an error frame ``rate_limited`` (a bad frame); the client sends it again.
Offers, answers and candidates go to their addressee only; screen share and
presence go to everyone else in the room; nothing crosses rooms. A participant
connecting again replaces its earlier socket (closed with 4409) and counts one
reconnection; the others hear ``peer_left`` then ``peer_joined`` and renegotiate.
Frames cross API processes through ``calls.video.bus``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
import structlog
from fastapi import APIRouter
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from commbase.calls.live.agent_session import FrameRate
from commbase.calls.video import joining, protocol
from commbase.calls.video import service as video_service
from commbase.calls.video.bus import RoomInbox, VideoBus, envelope, video_bus_of
from commbase.calls.video.models import VideoParticipant, VideoRoom
from commbase.calls.video.protocol import BadFrame, CloseCode
from commbase.core.db import Database
from commbase.core.errors import CommbaseError
from commbase.core.ids import new_id
from commbase.settings import Settings

SIGNAL_PATH = "/v1/video/rooms/{room_id}/signal"
MAX_BAD_FRAMES = 20  # a socket sending this many unusable frames is closed
STATEFUL_BURST = 3  # screen_share frames (a locked transaction each): one a second, 3 at once
log = structlog.get_logger("commbase.calls.video")


async def _close(websocket: WebSocket, code: int) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code)


async def _refuse(websocket: WebSocket, code: int) -> None:
    await websocket.accept()
    await _close(websocket, code)


class Connection:
    """One open socket of one participant."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        database: Database,
        bus: VideoBus,
        org_id: str,
        room_id: str,
        participant: dict[str, Any],
    ) -> None:
        self.websocket = websocket
        self.database = database
        self.bus = bus
        self.org_id = org_id
        self.room_id = room_id
        self.me = participant
        self.id = new_id("vconn")
        self.known: set[str] = set()
        self.rate = FrameRate()
        self.bad_frames = 0
        self.left = False
        self.last_stateful = time.monotonic()
        self.stateful_tokens = float(STATEFUL_BURST)
        self._send_lock = asyncio.Lock()

    @property
    def pid(self) -> str:
        return str(self.me["participant_id"])

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(orjson.dumps(frame).decode())

    async def publish(self, frame: dict[str, Any], *, to: str | None = None) -> None:
        await self.bus.publish(self.room_id, envelope(frame=frame, sender=self.pid, to=to))

    async def _knows(self, pid: str) -> bool:
        if pid not in self.known:
            async with self.database.sessionmaker() as session:
                peers = await video_service.peers(session, org_id=self.org_id, room_id=self.room_id)
            self.known = {p.id for p in peers}
        return pid in self.known

    async def from_client(self) -> str:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return "closed"
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            allowed, abusive = self.rate.hit()
            if abusive:
                await _close(self.websocket, CloseCode.POLICY)
                return "abusive"
            if not allowed:
                await self.send(protocol.error("rate_limited", "Too many frames; slow down"))
                continue
            if len(raw) > protocol.MAX_FRAME_BYTES:
                await self.send(protocol.error("frame_too_large", "A frame holds at most 64 KiB"))
                await _close(self.websocket, CloseCode.TOO_BIG)
                return "too_big"
            try:
                frame = protocol.parse(raw)
                if await self._handle(frame):
                    return "left"
            except BadFrame as bad:
                self.bad_frames += 1
                await self.send(protocol.error(bad.title, bad.detail))
                if self.bad_frames >= MAX_BAD_FRAMES:
                    await _close(self.websocket, CloseCode.POLICY)
                    return "bad_frames"

    async def _handle(self, frame: protocol.Message) -> bool:
        """Act on one frame; True when the participant leaves."""
        if isinstance(frame, protocol.Ping):
            await self.send({"type": "pong"})
        elif isinstance(frame, protocol.Leave):
            self.left = True
            return True
        elif isinstance(frame, protocol.ScreenShare):
            # Stateful frames lock the room in a transaction: one a second at most
            # (a burst of STATEFUL_BURST lets a share start and stop at once).
            now = time.monotonic()
            elapsed, self.last_stateful = now - self.last_stateful, now
            self.stateful_tokens = min(STATEFUL_BURST, self.stateful_tokens + elapsed)
            if self.stateful_tokens < 1:
                raise BadFrame("rate_limited", "One screen_share frame a second; send it again")
            self.stateful_tokens -= 1
            async with self.database.sessionmaker() as session:
                await video_service.screen_share(
                    session,
                    org_id=self.org_id,
                    room_id=self.room_id,
                    participant_id=self.pid,
                    active=frame.active,
                )
                await session.commit()
            await self.publish({"type": "screen_share", "from": self.pid, "active": frame.active})
        else:
            if frame.to == self.pid or not await self._knows(frame.to):
                raise BadFrame("unknown_peer", f"{frame.to} is not another participant here")
            payload = frame.model_dump(exclude={"to"}, exclude_none=True)
            await self.publish({**payload, "from": self.pid}, to=frame.to)
        return False

    async def to_client(self, inbox: RoomInbox) -> str:
        while True:
            message = await inbox.get()
            control, to = message.get("control"), message.get("to")
            if control == "end":
                await self.send({"type": "room_ended"})
                await _close(self.websocket, CloseCode.NORMAL)
                return "ended"
            if control == "replace":
                if to == self.pid and message.get("connection") != self.id:
                    await _close(self.websocket, CloseCode.REPLACED)
                    return "replaced"
                continue
            if to is not None and to != self.pid:
                continue
            if to is None and message.get("from") == self.pid:
                continue
            frame = message.get("frame")
            if isinstance(frame, dict):
                if frame.get("type") == "peer_joined":
                    self.known.add(str(frame["participant"]["participant_id"]))
                await self.send(frame)


async def signal_socket(websocket: WebSocket) -> None:
    room_id = str(websocket.path_params["room_id"])[:40]
    app = websocket.app
    settings: Settings = app.state.settings
    database: Database = app.state.db
    token = websocket.query_params.get("access_token") or ""
    scheme, _, bearer = websocket.headers.get("authorization", "").partition(" ")
    if not token and scheme.lower() == "bearer":
        token = bearer.strip()
    async with database.sessionmaker() as session:
        found = await joining.participant_for_token(session, settings=settings, token=token[:200])
        me = (
            None
            if found is None
            else (found.id, found.org_id, found.room_id, found.role, found.name)
        )
    if me is None:
        await _refuse(websocket, CloseCode.AUTH)
        return
    pid, org_id, its_room, role, name = me
    if its_room != room_id:
        await _refuse(websocket, CloseCode.FORBIDDEN)
        return
    bus = video_bus_of(app)
    async with bus.inbox(room_id) as inbox:
        try:
            async with database.sessionmaker() as session:
                room, participant, reconnection = await video_service.connected(
                    session, participant_id=pid, org_id=org_id
                )
                number = participant.connections
                present = await video_service.peers(session, org_id=org_id, room_id=room_id)
                await session.commit()
        except CommbaseError:
            await _refuse(websocket, CloseCode.GONE)
            return
        await websocket.accept()
        info = {"participant_id": pid, "role": role, "name": name}
        conn = Connection(
            websocket, database=database, bus=bus, org_id=org_id, room_id=room_id, participant=info
        )
        reason = "failed"
        try:
            reason = await _serve(
                conn, inbox, room=room, present=present, reconnection=reconnection
            )
        finally:
            # Whatever stopped the socket (a close, a database or Redis error), the
            # participant's presence is brought up to date.
            await _bookkeep(conn, number=number, reason=reason)
        log.info("video socket closed", room_id=room_id, participant_id=pid, reason=reason)


async def _serve(
    conn: Connection,
    inbox: RoomInbox,
    *,
    room: VideoRoom,
    present: list[VideoParticipant],
    reconnection: bool,
) -> str:
    pid, settings = conn.pid, conn.websocket.app.state.settings
    conn.known = {p.id for p in present}
    # An earlier socket of this participant (in any process) gives way to this one.
    await conn.bus.publish(
        conn.room_id, envelope(frame={}, control="replace", to=pid, connection=conn.id)
    )
    peers = [
        {"participant_id": p.id, "role": p.role, "name": p.name}
        for p in present
        if p.id != pid and p.connected_at is not None
    ]
    await conn.send(
        {
            "type": "welcome",
            "participant_id": pid,
            "role": conn.me["role"],
            "room": {"id": room.id, "status": room.status, "mode": room.mode},
            "peers": peers,
            "ice_servers": _ice(settings, pid),
            "reconnection": reconnection,
        }
    )
    if reconnection:
        await conn.publish({"type": "peer_left", "participant_id": pid})
    await conn.publish({"type": "peer_joined", "participant": conn.me})
    return await _run(conn, inbox)


async def _bookkeep(conn: Connection, *, number: int, reason: str) -> None:
    """Record the socket's close; peers hear ``peer_left`` only when it was still the
    participant's current socket (a late close of a replaced one says nothing) or the
    participant left."""
    current = False
    try:
        async with conn.database.sessionmaker() as session:
            current = await video_service.disconnected(
                session,
                org_id=conn.org_id,
                room_id=conn.room_id,
                participant_id=conn.pid,
                left=conn.left,
                connection=number,
            )
            await session.commit()
    except Exception as exc:  # the socket is gone either way; say what was not stored
        log.warning("video disconnect not recorded", participant_id=conn.pid, error=repr(exc))
    if (current or conn.left) and reason != "replaced":
        try:
            await conn.publish({"type": "peer_left", "participant_id": conn.pid})
        except Exception as exc:
            log.warning("video peer_left not sent", participant_id=conn.pid, error=repr(exc))
    if conn.left:
        await _close(conn.websocket, CloseCode.NORMAL)
    elif reason == "failed":
        await _close(conn.websocket, CloseCode.SERVER_ERROR)


def _ice(settings: Settings, pid: str) -> list[dict[str, object]]:
    from commbase.calls.video.credentials import ice_servers

    return ice_servers(settings, participant_id=pid)


async def _run(conn: Connection, inbox: RoomInbox) -> str:
    tasks = [
        asyncio.create_task(conn.from_client()),
        asyncio.create_task(conn.to_client(inbox)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        try:
            return str(next(iter(done)).result())
        except (WebSocketDisconnect, RuntimeError, OSError):
            return "closed"
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


router = APIRouter()
router.routes.append(WebSocketRoute(SIGNAL_PATH, signal_socket, name="video_signal"))
