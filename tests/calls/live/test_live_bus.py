"""The Redis live bus: one subscription per process for all its sockets' mailboxes,
each frame handed to the mailboxes of its channel only; the seats of a process kept
together."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from commbase.calls.live.bus import RedisBus, Side, channel
from commbase.calls.live.subscriber import QueueMailbox


async def subscribed_connections(redis: Redis, database: int) -> int:
    """Connections to ``database`` subscribed to at least one channel, or ever used for
    pub/sub (``sub`` counts channels; a pub/sub connection's last command is one of
    SUBSCRIBE, UNSUBSCRIBE)."""
    clients = await redis.client_list()
    return sum(
        1
        for client in clients
        if int(client.get("db", -1)) == database
        and (int(client.get("sub", 0)) > 0 or client.get("cmd") in ("subscribe", "unsubscribe"))
    )


@pytest.fixture
def url(redis_url: str | None) -> str:
    if redis_url is None:
        pytest.skip("the Redis bus needs Redis")
    return redis_url


async def test_one_subscription_serves_every_mailbox_of_a_process(url: str) -> None:
    database = int(urlsplit(url).path.strip("/") or 0)
    bus = RedisBus(url=url)
    watcher = Redis.from_url(url)
    try:
        before = await subscribed_connections(watcher, database)
        calls = [f"call_bus_{index}" for index in range(5)]
        async with contextlib.AsyncExitStack() as stack:
            boxes = {
                (call_id, side): await stack.enter_async_context(bus.mailbox(call_id, side))
                for call_id in calls
                for side in Side
            }
            # A second socket reading one of the channels (an agent reconnecting).
            again = await stack.enter_async_context(bus.mailbox(calls[0], Side.AGENT))
            assert await subscribed_connections(watcher, database) - before == 1
            numsub = dict(await watcher.pubsub_numsub(*(channel(c, s) for c, s in boxes)))
            assert set(numsub.values()) == {1}  # one subscriber per channel: the process
            for call_id, side in boxes:
                await bus.publish(call_id, side, f"{call_id}:{side}".encode(), received_at=1.5)
            for (call_id, side), box in boxes.items():
                async with asyncio.timeout(5):
                    assert await box.get() == f"{call_id}:{side}".encode()
                assert box.received_at == 1.5
            async with asyncio.timeout(5):
                assert await again.get() == f"{calls[0]}:{Side.AGENT}".encode()
            assert all(box.queue.empty() for box in boxes.values())  # type: ignore[attr-defined]
        # Every socket gone: the channels are unsubscribed.
        numsub = dict(await watcher.pubsub_numsub(*(channel(c, s) for c, s in boxes)))
        assert set(numsub.values()) == {0}
    finally:
        await bus.aclose()
        await watcher.aclose()


async def test_a_socket_leaving_a_shared_channel_leaves_the_other_subscribed(url: str) -> None:
    bus = RedisBus(url=url)
    try:
        async with bus.mailbox("call_bus_shared", Side.CARRIER) as staying:
            async with bus.mailbox("call_bus_shared", Side.CARRIER):
                pass
            await bus.publish("call_bus_shared", Side.CARRIER, b"still here")
            async with asyncio.timeout(5):
                assert await staying.get() == b"still here"
    finally:
        await bus.aclose()


async def test_seats_kept_at_once_are_each_answered(url: str) -> None:
    bus = RedisBus(url=url)
    try:
        seats = bus.seats
        taken = [await seats.take(f"call_seat_{index}", "agent:a") for index in range(20)]
        # Half of them taken over by a newer connection of the same agent.
        newer = [await seats.take(f"call_seat_{index}", "agent:a") for index in range(10)]
        kept = await asyncio.gather(
            *(seats.keep(f"call_seat_{index}", t.token or "") for index, t in enumerate(taken))
        )
        assert kept == [False] * 10 + [True] * 10
        assert all(
            await asyncio.gather(
                *(seats.keep(f"call_seat_{index}", t.token or "") for index, t in enumerate(newer))
            )
        )
    finally:
        await bus.aclose()


async def test_a_socket_cancelled_while_its_subscription_is_confirmed_leaves_nothing(
    url: str,
) -> None:
    """A socket's task cancelled between SUBSCRIBE and Redis's confirmation (the agent
    hung up at once, the server stopping) must not leave its mailbox subscribed for the
    life of the process, taking that call's frames."""
    watcher = Redis.from_url(url)
    try:
        for attempt in range(20):
            bus = RedisBus(url=url)
            subscriber = bus.subscriber
            name = channel(f"call_bus_cancelled_{attempt}", Side.AGENT)
            key = name.encode()
            try:
                opening = asyncio.create_task(subscriber.join(name, QueueMailbox()))
                # The SUBSCRIBE is sent once the reader exists; cancel while Redis's
                # confirmation has not been read yet.
                async with asyncio.timeout(5):
                    while subscriber._reader is None:  # noqa: ASYNC110
                        await asyncio.sleep(0)
                pending = subscriber._pending.get(key)
                if not pending or pending[-1].done():
                    await opening  # the confirmation won the race; try again
                    continue
                opening.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await opening
                assert key not in subscriber._readers
                async with asyncio.timeout(5):
                    while dict(await watcher.pubsub_numsub(name)).get(key) != 0:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                return
            finally:
                await bus.aclose()
        pytest.fail("never cancelled before the confirmation")
    finally:
        await watcher.aclose()


class FreezingProxy:
    """A TCP relay to Redis that can go silent without closing anything: the
    half-open connection a vanished peer leaves behind."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> FreezingProxy:
        self.server = await asyncio.start_server(self._relay_both, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1)

    async def _relay_both(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        relays = [
            asyncio.create_task(self._relay(reader, upstream_writer)),
            asyncio.create_task(self._relay(upstream_reader, writer)),
        ]
        try:
            await asyncio.gather(*relays)
        finally:
            for task in relays:
                task.cancel()
            writer.close()
            upstream_writer.close()

    async def _relay(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            if self.frozen.is_set():
                continue  # swallowed: nothing more gets through, nothing is closed
            sink.write(data)
            await sink.drain()


async def test_a_connection_gone_silent_fails_its_sockets_and_the_next_one_reconnects(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A half-open subscription (Redis unreachable, nothing closed) must not leave the
    process's live sockets waiting forever: the silent connection is pinged, given up
    when the ping goes unanswered, every mailbox hears it, and the next socket to join
    gets a working subscription."""
    from commbase.calls.live import subscriber as subscriber_module

    monkeypatch.setattr(subscriber_module, "QUIET_S", 0.2)
    monkeypatch.setattr(subscriber_module, "ANSWER_S", 0.3)
    parts = urlsplit(url)
    async with FreezingProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        proxied = parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        bus = RedisBus(url=proxied)
        try:
            async with bus.mailbox("call_bus_silent", Side.AGENT) as box:
                await asyncio.sleep(0.6)  # quiet but answering: pings are answered
                await bus.publish("call_bus_silent", Side.AGENT, b"before")
                async with asyncio.timeout(5):
                    assert await box.get() == b"before"
                proxy.frozen.set()
                async with asyncio.timeout(5):
                    with pytest.raises(ConnectionError):
                        await box.get()
            proxy.frozen.clear()
            async with bus.mailbox("call_bus_silent", Side.AGENT) as again:
                await bus.publish("call_bus_silent", Side.AGENT, b"after")
                async with asyncio.timeout(5):
                    assert await again.get() == b"after"
        finally:
            await bus.aclose()
