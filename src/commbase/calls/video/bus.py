"""How signalling frames cross between a room's sockets, in one process or several.

Every open socket of a room reads the room's channel; a message carries who sent it
and, for offers, answers and candidates, the one participant it is addressed to.
Each socket passes on only what is for it (``Envelope.for_participant``).

* One process (no ``COMMBASE_REDIS_URL``): asyncio queues.
* Several API processes (Redis configured): Redis pub/sub, channel
  ``commbase:video:<room id>``, one subscription (one Redis connection) per open
  socket, made before the socket is accepted; published with the app's client.
  Pub/sub keeps no history: a frame for a participant not connected is lost, which
  WebRTC negotiation tolerates (the newcomer offers again when it reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

SERVICE_KEY = "video_bus"
QUEUE_LIMIT = 1000


def envelope(
    *,
    frame: dict[str, Any],
    sender: str | None = None,
    to: str | None = None,
    control: str | None = None,
    connection: str | None = None,
) -> bytes:
    """A message on the room's channel: ``frame`` for ``to`` (None: everyone but
    ``sender``); ``control`` for the sockets themselves (``replace``: the participant
    ``to`` connected again as ``connection``; ``end``: the room ended)."""
    return orjson.dumps(
        {"frame": frame, "from": sender, "to": to, "control": control, "connection": connection}
    )


class RoomInbox(Protocol):
    async def get(self) -> dict[str, Any]: ...


class VideoBus(Protocol):
    async def publish(self, room_id: str, message: bytes) -> None: ...

    def inbox(self, room_id: str) -> contextlib.AbstractAsyncContextManager[RoomInbox]: ...


class _QueueInbox:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)

    def put(self, data: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(data)

    async def get(self) -> dict[str, Any]:
        message: dict[str, Any] = orjson.loads(await self.queue.get())
        return message


class InProcessBus:
    def __init__(self) -> None:
        self._readers: dict[str, set[_QueueInbox]] = {}

    async def publish(self, room_id: str, message: bytes) -> None:
        for inbox in list(self._readers.get(room_id, ())):
            inbox.put(message)

    @contextlib.asynccontextmanager
    async def inbox(self, room_id: str) -> AsyncIterator[RoomInbox]:
        inbox = _QueueInbox()
        readers = self._readers.setdefault(room_id, set())
        readers.add(inbox)
        try:
            yield inbox
        finally:
            readers.discard(inbox)
            if not readers:
                self._readers.pop(room_id, None)


def channel(room_id: str) -> str:
    return f"commbase:video:{room_id}"


class _RedisInbox:
    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub

    async def get(self) -> dict[str, Any]:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None and message.get("type") == "message":
                data: dict[str, Any] = orjson.loads(message["data"])
                return data


class RedisBus:
    def __init__(self, redis: Redis, *, url: str) -> None:
        self.redis = redis
        self.url = url

    async def publish(self, room_id: str, message: bytes) -> None:
        await self.redis.publish(channel(room_id), message)

    @contextlib.asynccontextmanager
    async def inbox(self, room_id: str) -> AsyncIterator[RoomInbox]:
        client: Redis = Redis.from_url(self.url, socket_connect_timeout=2.0)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel(room_id))
            while (
                confirmed := await pubsub.get_message(timeout=2.0)
            ) is not None and confirmed.get("type") != "subscribe":
                continue
            yield _RedisInbox(pubsub)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()


def video_bus_of(app: Any) -> VideoBus:
    """The process's bus, kept with the app's shared services (built on first use)."""
    services: MutableMapping[str, Any] = app.state.job_services
    bus = services.get(SERVICE_KEY)
    if bus is None:
        redis, url = app.state.redis, app.state.settings.redis_url
        bus = RedisBus(redis, url=url) if redis is not None and url else InProcessBus()
        services[SERVICE_KEY] = bus
    result: VideoBus = bus
    return result
