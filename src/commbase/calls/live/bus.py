"""How frames cross between a call's agent socket and its carrier socket.

Each live call has two mailboxes: ``agent`` (frames for the agent's WebSocket) and
``carrier`` (frames for the carrier's, or the simulated callee's). The agent's
socket publishes to ``carrier`` and reads ``agent``; the carrier's does the reverse.

* One process (no ``COMMBASE_REDIS_URL``, e.g. SQLite): an in-process bus of
  asyncio queues.
* Several API processes behind a load balancer (Redis configured): Twilio's
  socket and the agent's may land on different processes, so every frame goes
  through Redis pub/sub, channel ``commbase:live:<call id>:<side>``. A process
  holds one subscription (one Redis connection, ``subscriber``) for all its
  sockets' mailboxes; a socket's channel is added to it, and confirmed, before the
  socket is accepted. Frames are published in batches: while one batch
  is on its way to Redis (one pipeline, one write), the frames that arrive queue for
  the next one, so a busy process makes one round trip for many frames instead of
  one each (a publish costs more in system calls than everything else a frame
  does); an idle one sends each frame at once. Publishing and the seats use a pool
  of the bus's own (``PUBLISH_CONNECTIONS``) that waits for a free connection rather
  than failing: redis-py's default pool (the app's client) raises once 100 commands
  are in flight, which 100 live calls' handshakes reach at once. Pub/sub
  keeps no history: a frame sent while nobody listens is lost
  (the transcript still has it), which is why the agent should attach before
  the call is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, MutableMapping
from enum import StrEnum
from typing import Any, Protocol

from prometheus_client import Histogram
from redis.asyncio import BlockingConnectionPool, Redis

from commbase.calls.live.seats import InProcessSeats, RedisSeats, Seats
from commbase.calls.live.subscriber import STAMP, QueueMailbox, Subscriber

SERVICE_KEY = "live_bus"
# The time a frame spends inside commbase, from its arrival on one socket to its
# departure on the other (the clocks of two processes, with Redis between them).
RELAY_SECONDS = Histogram(
    "commbase_live_relay_seconds",
    "Latency commbase adds to a live call's frame, by direction",
    ["direction"],
    buckets=(
        *(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01),
        *(0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0),
    ),
)
PUBLISH_CONNECTIONS = 16  # Redis connections a process publishes frames through
PUBLISH_WAIT_S = 5.0  # longest wait for one of them before a publish fails


class Side(StrEnum):
    AGENT = "agent"
    CARRIER = "carrier"

    @property
    def other(self) -> Side:
        return Side.CARRIER if self is Side.AGENT else Side.AGENT


class Mailbox(Protocol):
    # When the frame ``get`` last returned reached commbase (epoch seconds): what the
    # relay latency histogram measures from.
    received_at: float

    async def get(self) -> bytes: ...


class LiveBus(Protocol):
    seats: Seats  # who holds each call's agent seat (``seats``)

    async def publish(
        self, call_id: str, side: Side, data: bytes, *, received_at: float | None = None
    ) -> None:
        """Deliver ``data`` to whoever reads ``side`` of the call (nobody: dropped).
        ``received_at``: when the frame it carries reached commbase (default: now)."""
        ...

    def mailbox(self, call_id: str, side: Side) -> contextlib.AbstractAsyncContextManager[Mailbox]:
        """Read ``side`` of the call for as long as the context is open."""
        ...


class InProcessBus:
    """Mailboxes as asyncio queues: for one process."""

    def __init__(self) -> None:
        self._readers: dict[tuple[str, Side], set[QueueMailbox]] = {}
        self.seats: Seats = InProcessSeats()

    async def publish(
        self, call_id: str, side: Side, data: bytes, *, received_at: float | None = None
    ) -> None:
        stamp = received_at or time.time()
        for mailbox in self._readers.get((call_id, side), ()):
            mailbox.put(data, stamp)

    @contextlib.asynccontextmanager
    async def mailbox(self, call_id: str, side: Side) -> AsyncIterator[Mailbox]:
        mailbox = QueueMailbox()
        readers = self._readers.setdefault((call_id, side), set())
        readers.add(mailbox)
        try:
            yield mailbox
        finally:
            readers.discard(mailbox)
            if not readers:
                self._readers.pop((call_id, side), None)


def channel(call_id: str, side: Side) -> str:
    return f"commbase:live:{call_id}:{side}"


class RedisBus:
    """Mailboxes as Redis pub/sub channels: for several processes."""

    def __init__(self, *, url: str) -> None:
        self.url = url
        self.publisher = Redis.from_pool(
            BlockingConnectionPool.from_url(
                url,
                max_connections=PUBLISH_CONNECTIONS,
                timeout=PUBLISH_WAIT_S,
                socket_connect_timeout=2.0,
                socket_timeout=PUBLISH_WAIT_S,
            )
        )
        self.seats: Seats = RedisSeats(self.publisher)
        self.subscriber = Subscriber(url)  # one subscription for all its mailboxes
        self._batch: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(
        self, call_id: str, side: Side, data: bytes, *, received_at: float | None = None
    ) -> None:
        """Queue the frame for the next batch; returns once Redis took it (its error,
        e.g. Redis away, is raised here)."""
        stamp = STAMP.pack(received_at or time.time())
        sent = asyncio.get_running_loop().create_future()
        self._batch.append((channel(call_id, side), stamp + data, sent))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_batches(), name="live-bus-publish")
        await sent

    async def _send_batches(self) -> None:
        """Send what is queued, one batch at a time, until nothing is."""
        while self._batch:
            batch, self._batch = self._batch, []
            try:
                if len(batch) == 1:
                    await self.publisher.publish(batch[0][0], batch[0][1])
                else:
                    async with self.publisher.pipeline(transaction=False) as pipe:
                        for name, message, _ in batch:
                            pipe.publish(name, message)
                        await pipe.execute()
            except Exception as exc:
                for _, _, sent in batch:
                    if not sent.done():
                        sent.set_exception(exc)
                continue
            for _, _, sent in batch:
                if not sent.done():
                    sent.set_result(None)

    async def aclose(self) -> None:
        await self.subscriber.aclose()
        await self.publisher.aclose()

    @contextlib.asynccontextmanager
    async def mailbox(self, call_id: str, side: Side) -> AsyncIterator[Mailbox]:
        mailbox = QueueMailbox()
        name = channel(call_id, side)
        await self.subscriber.join(name, mailbox)
        try:
            yield mailbox
        finally:
            await self.subscriber.leave(name, mailbox)


def live_bus_of(
    services: MutableMapping[str, Any], *, redis: Redis | None, url: str | None
) -> LiveBus:
    """The process's bus, kept with the app's shared services (built on first use)."""
    bus = services.get(SERVICE_KEY)
    if bus is None:
        bus = RedisBus(url=url) if redis is not None and url else InProcessBus()
        services[SERVICE_KEY] = bus
    result: LiveBus = bus
    return result
