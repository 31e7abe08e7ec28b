"""An ``sfu`` room's LiveKit room is deleted after the room ends (``calls.video_sfu_delete``).

A stdlib HTTP server on 127.0.0.1 plays LiveKit's RoomService as the ``livekit-api``
client speaks to it: Twirp (``POST /twirp/livekit.RoomService/DeleteRoom``, a
protobuf ``DeleteRoomRequest``, a bearer JWT signed with the API secret) and
Twirp's JSON errors (``{"code": "not_found", ...}`` with 404).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from livekit import api as livekit
from sqlalchemy import select

from commbase.calls.video.sfu import DELETE_CONSUMER
from commbase.core.effects import EffectRunner
from commbase.core.outbox import OutboxDelivery, OutboxEvent
from commbase.settings import Settings
from tests.calls.video.conftest import LIVEKIT_KEY, LIVEKIT_SECRET, new_room
from tests.conftest import make_settings
from tests.identity.factories import make_tenant

DELETE_PATH = "/twirp/livekit.RoomService/DeleteRoom"


@dataclass
class FakeLiveKit:
    url: str = ""
    rooms: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failing: bool = False


def _handler(fake: FakeLiveKit) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _error(self, status: int, code: str, msg: str) -> None:
            body = orjson.dumps({"code": code, "msg": msg})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != DELETE_PATH:
                return self._error(404, "bad_route", "no such method")
            if self.headers["Content-Type"] != "application/protobuf":
                return self._error(400, "malformed", "expected protobuf")
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            try:
                claims = livekit.TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(token)
            except Exception:
                return self._error(401, "unauthenticated", "invalid token")
            if claims.video is None or not claims.video.room_create:
                return self._error(403, "permission_denied", "needs roomCreate")
            room = livekit.DeleteRoomRequest.FromString(body).room
            if fake.failing:
                fake.refused.append(room)
                return self._error(503, "unavailable", "try again")
            if room not in fake.rooms:
                fake.refused.append(room)
                return self._error(404, "not_found", "requested room does not exist")
            fake.rooms.discard(room)
            fake.deleted.append(room)
            answer = livekit.DeleteRoomResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return None

    return Handler


@pytest.fixture
def fake_livekit() -> Iterator[FakeLiveKit]:
    fake = FakeLiveKit()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"ws://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(database_url: str, redis_url: str | None, fake_livekit: FakeLiveKit) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        livekit_url=fake_livekit.url,
        livekit_api_key=LIVEKIT_KEY,
        livekit_api_secret=LIVEKIT_SECRET,
        public_base_url="https://commbase.example.test",
    )


async def _run(app: FastAPI) -> int:
    runner = EffectRunner(app.state.db, services=app.state.job_services, worker_id="test-sfu")
    return await runner.run_once(only=[DELETE_CONSUMER])


async def _deliveries(app: FastAPI, room_id: str) -> list[OutboxDelivery]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxDelivery)
            .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
            .where(
                OutboxDelivery.consumer == DELETE_CONSUMER,
                OutboxEvent.payload["id"].as_string() == room_id,
            )
        )
        return list(rows)


async def _end(client: httpx.AsyncClient, headers: dict[str, str], room_id: str) -> None:
    ended = await client.post(f"/v1/video/rooms/{room_id}/end", headers=headers)
    assert ended.status_code == 200, ended.text


async def test_ending_an_sfu_room_deletes_its_livekit_room_after_commit(
    app: FastAPI, client: httpx.AsyncClient, fake_livekit: FakeLiveKit
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant, mode="sfu")
    fake_livekit.rooms.add(room["id"])
    assert await _run(app) == 0  # nothing before the room ends
    await _end(client, tenant.headers, room["id"])
    assert fake_livekit.deleted == []  # not while the request's transaction is open
    assert await _run(app) == 1
    assert fake_livekit.deleted == [room["id"]]
    assert fake_livekit.rooms == set()
    assert await _deliveries(app, room["id"]) == []  # completed: nothing left queued
    assert await _run(app) == 0  # done once: never asked again
    assert fake_livekit.deleted == [room["id"]]


async def test_a_livekit_room_already_gone_counts_as_deleted(
    app: FastAPI, client: httpx.AsyncClient, fake_livekit: FakeLiveKit
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant, mode="sfu")  # nobody joined: LiveKit has no room
    await _end(client, tenant.headers, room["id"])
    assert await _run(app) == 1
    assert fake_livekit.refused == [room["id"]]
    assert await _deliveries(app, room["id"]) == []  # completed: nothing left queued


async def test_an_unavailable_livekit_is_retried_later(
    app: FastAPI, client: httpx.AsyncClient, fake_livekit: FakeLiveKit
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant, mode="sfu")
    fake_livekit.rooms.add(room["id"])
    fake_livekit.failing = True
    await _end(client, tenant.headers, room["id"])
    assert await _run(app) == 1
    [delivery] = await _deliveries(app, room["id"])
    assert delivery.done_at is None
    assert delivery.attempts == 1
    assert delivery.last_error
    assert "unavailable" in delivery.last_error
    assert room["id"] in fake_livekit.rooms


async def test_a_mesh_room_asks_nothing_of_livekit(
    app: FastAPI, client: httpx.AsyncClient, fake_livekit: FakeLiveKit
) -> None:
    tenant = await make_tenant(app)
    room = await new_room(client, tenant)
    await _end(client, tenant.headers, room["id"])
    assert await _run(app) == 1
    assert fake_livekit.deleted == []
    assert fake_livekit.refused == []
    assert await _deliveries(app, room["id"]) == []  # completed: nothing left queued
