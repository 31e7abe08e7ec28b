"""One Redis subscription per process for every live mailbox it reads.

A socket's mailbox is a channel (``bus.channel``). Subscribed one connection per
socket, 100 live calls were 200 Redis connections, each with a task blocked on its
own read: every frame woke one reader, and a busy second's frames took one system
call each. Here the process holds one pub/sub connection (``Subscriber``): a socket
joining adds its channel to it (the first socket on a channel subscribes, the last
one leaving unsubscribes), and one reader task hands each message to the local
mailboxes of its channel (``fan-out``), reading whatever arrived in one go.

A mailbox joins once Redis has confirmed its channel (frames published from then on
reach it), as before. If the connection fails for good, every mailbox's ``get``
raises that error (their sockets end, as when their own connections failed) and the
next socket to join opens a new connection.

A connection can also die without failing: a peer gone behind a NAT or a cut cable
leaves a half-open socket that reads nothing, and every live socket of the process
would wait on it until the operating system gave up (hours). So the reader pings
Redis when the connection has been silent for ``QUIET_S`` and fails the subscription
(every mailbox, as above) when no answer comes within ``ANSWER_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections import deque
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

QUEUE_LIMIT = 1000  # frames waiting for a slow reader before the oldest are dropped
CONFIRM_WAIT_S = 2.0  # longest wait for Redis to confirm a subscription
QUIET_S = 5.0  # silence on the subscription after which the reader pings Redis
ANSWER_S = 5.0  # longest wait for that ping's answer before the connection is given up
STAMP = struct.Struct("!d")  # each message starts with when its frame reached commbase


class QueueMailbox:
    """A socket's mailbox: frames queued for it (fed by the process's bus)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes | None, float]] = asyncio.Queue(QUEUE_LIMIT)
        self.received_at = 0.0
        self.error: BaseException | None = None

    def put(self, data: bytes | None, received_at: float) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # a reader this far behind loses the oldest frame
        self.queue.put_nowait((data, received_at))

    def fail(self, error: BaseException) -> None:
        """The subscription is gone: ``get`` raises ``error`` (after what is queued)."""
        self.error = error
        self.put(None, 0.0)

    async def get(self) -> bytes:
        data, received_at = await self.queue.get()
        if data is None:
            assert self.error is not None
            self.put(None, 0.0)  # a second ``get`` fails too
            raise self.error
        self.received_at = received_at
        return data


class Subscriber:
    """The process's pub/sub connection and the mailboxes reading its channels."""

    def __init__(self, url: str) -> None:
        self.url = url
        # Named, so an operator (and a test) can find the process's subscription.
        self.client_name = f"commbase-live-{os.getpid()}-{id(self):x}"
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._readers: dict[bytes, set[QueueMailbox]] = {}
        # Per channel, one future per SUBSCRIBE sent, resolved by its confirmation.
        self._pending: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._lock = asyncio.Lock()

    async def join(self, name: str, mailbox: QueueMailbox) -> None:
        """Feed ``mailbox`` with the channel's messages, once Redis has confirmed it."""
        key = name.encode()
        confirmed: asyncio.Future[None] | None = None
        async with self._lock:
            pubsub = await self._connected()
            readers = self._readers.setdefault(key, set())
            readers.add(mailbox)
            if len(readers) == 1:
                confirmed = asyncio.get_running_loop().create_future()
                self._pending.setdefault(key, deque()).append(confirmed)
                try:
                    # Connects on the first: a Redis that is away fails the handshake (503).
                    await pubsub.subscribe(key)
                except BaseException:
                    self._drop(key, mailbox)
                    self._pending[key].remove(confirmed)
                    if not self._pending[key]:
                        del self._pending[key]
                    raise
                if self._reader is None:
                    self._reader = asyncio.create_task(self._read(pubsub), name="live-bus-read")
            elif pending := self._pending.get(key):
                confirmed = pending[-1]  # another socket's subscription, not yet confirmed
        if confirmed is not None:
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_WAIT_S)
            except BaseException:
                # Cancelled while Redis confirms (the socket's task ended): the caller
                # never gets the mailbox to leave with, so it leaves here.
                await self.leave(name, mailbox)
                raise

    async def leave(self, name: str, mailbox: QueueMailbox) -> None:
        key = name.encode()
        async with self._lock:
            if self._drop(key, mailbox) and self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.unsubscribe(key)

    def _drop(self, key: bytes, mailbox: QueueMailbox) -> bool:
        """Forget ``mailbox``; True if it was the channel's last."""
        readers = self._readers.get(key)
        if readers is None:
            return False
        readers.discard(mailbox)
        if readers:
            return False
        del self._readers[key]
        return True

    async def _connected(self) -> PubSub:
        if self._pubsub is None or (self._reader is not None and self._reader.done()):
            await self._close_connection()
            # A client of its own: a subscription blocks its connection for as long as
            # it lasts, without the app client's short read timeout.
            self._client = Redis.from_url(
                self.url,
                socket_connect_timeout=2.0,
                socket_keepalive=True,
                client_name=self.client_name,
            )
            self._pubsub = self._client.pubsub()
        return self._pubsub

    async def _read(self, pubsub: PubSub) -> None:
        clock = asyncio.get_running_loop().time
        heard = clock()  # when the connection last delivered anything
        pinged: float | None = None  # when an unanswered ping was sent
        try:
            while True:
                message = await pubsub.get_message(timeout=min(QUIET_S, ANSWER_S))
                now = clock()
                if message is not None:
                    heard, pinged = now, None
                    self._dispatch(message)
                elif pinged is not None:
                    if now - pinged >= ANSWER_S:
                        raise ConnectionError("the live bus's Redis stopped answering")
                elif now - heard >= QUIET_S:
                    await pubsub.ping()  # answered on the subscription as a "pong"
                    pinged = now
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(exc)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        key = message.get("channel")
        if kind == "message":
            data: bytes = message["data"]
            (stamp,) = STAMP.unpack_from(data)
            frame = data[STAMP.size :]
            for mailbox in self._readers.get(key, ()):  # type: ignore[arg-type]
                mailbox.put(frame, stamp)
        elif kind == "subscribe":
            pending = self._pending.get(key)  # type: ignore[arg-type]
            if pending:
                confirmed = pending.popleft()
                if not pending:
                    del self._pending[key]  # type: ignore[arg-type]
                if not confirmed.done():
                    confirmed.set_result(None)

    def _fail(self, error: BaseException) -> None:
        """The connection is lost: every mailbox hears it; the next join reconnects."""
        readers, self._readers = self._readers, {}
        pending, self._pending = self._pending, {}
        for mailboxes in readers.values():
            for mailbox in mailboxes:
                mailbox.fail(error)
        for futures in pending.values():
            for confirmed in futures:
                if not confirmed.done():
                    confirmed.set_result(None)  # its socket hears the error from ``get``

    async def _close_connection(self) -> None:
        reader, self._reader = self._reader, None
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def aclose(self) -> None:
        async with self._lock:
            self._fail(ConnectionError("the live bus was closed"))
            await self._close_connection()
