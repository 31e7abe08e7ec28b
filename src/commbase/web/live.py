"""One notifier per process tells open dashboards that their organization's facts
changed; each tab then reloads its own figures once.

The notifier wakes when a transaction in this process records outbox events
(``outbox.listen``) and, with Redis configured, when another process announces
one on a pub/sub channel; without Redis it also looks every few seconds, for the
events other processes wrote. One wake costs one indexed query on
``outbox_events`` for the organizations that have a tab open, whatever the number
of tabs, and an organization is told at most once per ``min_gap_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import defaultdict
from datetime import datetime, timedelta

import structlog
from redis.asyncio import Redis
from sqlalchemy import func, select

from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.web.live")
CHANNEL = "commbase:dashboard:changes"
WINDOW = timedelta(seconds=60)


class LiveNotifier:
    def __init__(
        self,
        database: Database,
        redis_url: str | None = None,
        *,
        poll_s: float = 3.0,
        min_gap_s: float = 0.5,
    ) -> None:
        self._database = database
        # Its own connections: a subscriber waits on its socket indefinitely, which the
        # application's short Redis timeouts would cut.
        self._redis = (
            Redis.from_url(redis_url, socket_connect_timeout=1.0, socket_timeout=1.0)
            if redis_url
            else None
        )
        self._listener = (
            Redis.from_url(redis_url, socket_connect_timeout=1.0) if redis_url else None
        )
        self._poll_s = poll_s if redis_url is None else max(poll_s, 15.0)
        self._min_gap_s = min_gap_s
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._seen: dict[str, tuple[int, object]] = {}
        self._since: dict[str, datetime] = {}  # when the organization's first tab opened
        self._task: asyncio.Task[None] | None = None
        self._redis_task: asyncio.Task[None] | None = None
        self._origin = f"{os.getpid()}:{id(self)}"
        self.queries = 0  # how many outbox queries the notifier sent (for tests and benches)

    # ------------------------------------------------------------- tabs

    def subscribe(self, org_id: str) -> asyncio.Queue[str]:
        """A queue that receives a JSON message each time ``org_id``'s facts change."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=4)
        self._subscribers[org_id].add(queue)
        self._since.setdefault(org_id, utcnow())
        self._start()
        return queue

    def unsubscribe(self, org_id: str, queue: asyncio.Queue[str]) -> None:
        listeners = self._subscribers.get(org_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._subscribers[org_id]
                self._seen.pop(org_id, None)
                self._since.pop(org_id, None)

    def _tell(self, org_id: str, types: list[str]) -> None:
        message = json.dumps({"org_id": org_id, "types": types})
        for queue in list(self._subscribers.get(org_id, ())):
            if queue.full():
                continue  # that tab has a reload pending already
            queue.put_nowait(message)

    # ------------------------------------------------------------- loop

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        if self._redis is not None and (self._redis_task is None or self._redis_task.done()):
            self._redis_task = asyncio.create_task(self._hear_redis())

    async def close(self) -> None:
        for task in (self._task, self._redis_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for client in (self._redis, self._listener):
            if client is not None:
                await client.aclose()

    async def _run(self) -> None:
        wake = outbox.listen()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self._poll_s)
                wake.clear()
                if not self._subscribers:
                    continue
                try:
                    changed = await self._changed()
                except Exception as exc:  # the next wake tries again
                    log.warning("dashboard notifier could not read outbox", error=str(exc))
                    continue
                for org_id, types in changed.items():
                    self._tell(org_id, types)
                    await self._announce(org_id, types)
                await asyncio.sleep(self._min_gap_s)
        finally:
            outbox.unlisten(wake)

    async def _changed(self) -> dict[str, list[str]]:
        """Organizations with a tab open whose recent outbox events differ from the
        last look: their event count and latest time over the last minute."""
        org_ids = list(self._subscribers)
        since = utcnow() - WINDOW
        OutboxEvent = outbox.OutboxEvent
        statement = (
            select(
                OutboxEvent.org_id,
                func.count(),
                func.max(OutboxEvent.created_at),
                func.max(OutboxEvent.type),
            )
            .where(OutboxEvent.org_id.in_(org_ids), OutboxEvent.created_at >= since)
            .group_by(OutboxEvent.org_id)
        )
        self.queries += 1
        async with self._database.sessionmaker() as session:
            rows = (await session.execute(statement)).all()
        changed: dict[str, list[str]] = {}
        for org_id, count, latest, last_type in rows:
            signature = (int(count), latest)
            if self._seen.get(org_id) == signature:
                continue
            self._seen[org_id] = signature
            opened = self._since.get(org_id)
            if opened is not None and latest is not None and latest >= opened:
                changed[org_id] = [str(last_type)]
        return changed

    # ------------------------------------------------------------- redis

    async def _announce(self, org_id: str, types: list[str]) -> None:
        if self._redis is None:
            return
        message = json.dumps({"origin": self._origin, "org_id": org_id, "types": types})
        try:
            await self._redis.publish(CHANNEL, message)
        except Exception as exc:  # other processes still look on their own poll
            log.warning("dashboard notifier could not publish", error=str(exc))

    async def _hear_redis(self) -> None:
        assert self._listener is not None
        while True:
            pubsub = self._listener.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    heard = json.loads(message["data"])
                    if heard.get("origin") != self._origin:
                        self._tell(str(heard["org_id"]), list(heard.get("types", [])))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dashboard notifier lost Redis", error=str(exc))
                await asyncio.sleep(2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
