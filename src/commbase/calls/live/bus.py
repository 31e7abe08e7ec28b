"""How frames cross between a call's agent socket and its carrier socket.

Each live call has two mailboxes: ``agent`` (frames for the agent's WebSocket) and
``carrier`` (frames for the carrier's, or the simulated callee's). The agent's
socket publishes to ``carrier`` and reads ``agent``; the carrier's does the reverse.

* One process (no ``COMMBASE_REDIS_URL``, e.g. SQLite): an in-process bus of
  asyncio queues.
* Several API processes behind a load balancer (Redis configured): Twilio's
  socket and the agent's may land on different processes, so every frame goes
  through Redis pub/sub, channel ``commbase:live:<call id>:<side>``. Each open
  socket holds one subscription (one Redis connection) for its mailbox, made
  before the socket is accepted, and frames are published with the app's Redis
  client. Pub/sub keeps no history: a frame sent while nobody listens is lost
  (the transcript still has it), which is why the agent should attach before
  the call is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from enum import StrEnum
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

SERVICE_KEY = "live_bus"
QUEUE_LIMIT = 1000  # frames waiting for a slow reader before the oldest are dropped


class Side(StrEnum):
    AGENT = "agent"
    CARRIER = "carrier"

    @property
    def other(self) -> Side:
        return Side.CARRIER if self is Side.AGENT else Side.AGENT


class Mailbox(Protocol):
    async def get(self) -> bytes: ...


class LiveBus(Protocol):
    async def publish(self, call_id: str, side: Side, data: bytes) -> None:
        """Deliver ``data`` to whoever reads ``side`` of the call (nobody: dropped)."""
        ...

    def mailbox(self, call_id: str, side: Side) -> contextlib.AbstractAsyncContextManager[Mailbox]:
        """Read ``side`` of the call for as long as the context is open."""
        ...


def _put(queue: asyncio.Queue[bytes], data: bytes) -> None:
    if queue.full():
        queue.get_nowait()  # a reader this far behind loses the oldest frame, not the newest
    queue.put_nowait(data)


class InProcessBus:
    """Mailboxes as asyncio queues: for one process."""

    def __init__(self) -> None:
        self._readers: dict[tuple[str, Side], set[asyncio.Queue[bytes]]] = {}

    async def publish(self, call_id: str, side: Side, data: bytes) -> None:
        for queue in self._readers.get((call_id, side), ()):
            _put(queue, data)

    @contextlib.asynccontextmanager
    async def mailbox(self, call_id: str, side: Side) -> AsyncIterator[Mailbox]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        readers = self._readers.setdefault((call_id, side), set())
        readers.add(queue)
        try:
            yield queue
        finally:
            readers.discard(queue)
            if not readers:
                self._readers.pop((call_id, side), None)


def channel(call_id: str, side: Side) -> str:
    return f"commbase:live:{call_id}:{side}"


class _RedisMailbox:
    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub

    async def get(self) -> bytes:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None and message.get("type") == "message":
                data: bytes = message["data"]
                return data


class RedisBus:
    """Mailboxes as Redis pub/sub channels: for several processes."""

    def __init__(self, redis: Redis, *, url: str) -> None:
        self.redis = redis  # the app's client, for publishing
        self.url = url

    async def publish(self, call_id: str, side: Side, data: bytes) -> None:
        await self.redis.publish(channel(call_id, side), data)

    @contextlib.asynccontextmanager
    async def mailbox(self, call_id: str, side: Side) -> AsyncIterator[Mailbox]:
        # A client of its own: a subscription blocks its connection for as long as it
        # lasts, without the app client's short read timeout.
        client: Redis = Redis.from_url(self.url, socket_connect_timeout=2.0)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel(call_id, side))
            # Wait for Redis to confirm: frames published from now on reach us.
            while (
                confirmed := await pubsub.get_message(timeout=2.0)
            ) is not None and confirmed.get("type") != "subscribe":
                continue
            yield _RedisMailbox(pubsub)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()


def live_bus_of(
    services: MutableMapping[str, Any], *, redis: Redis | None, url: str | None
) -> LiveBus:
    """The process's bus, kept with the app's shared services (built on first use)."""
    bus = services.get(SERVICE_KEY)
    if bus is None:
        bus = RedisBus(redis, url=url) if redis is not None and url else InProcessBus()
        services[SERVICE_KEY] = bus
    result: LiveBus = bus
    return result
