"""Deliver outbox events to webhook endpoints, signed per Standard Webhooks.

Two steps, each safe for any number of workers (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite has one writer at a time anyway):

1. **Fan out** (``fan_out.py``): claim new outbox events for the ``webhooks``
   consumer and create one delivery per matching endpoint, in the same
   transaction that marks the events done — an event is fanned out exactly once.
2. **Send**: claim due deliveries with a lease (``claimed_by``, and
   ``next_attempt_at`` pushed out by the lease), commit, send them concurrently
   (``sending.py``, through the connection lanes of ``lanes.py``), then record
   each outcome (``outcomes.py``: retries, failures, disabling an endpoint). A
   worker killed mid-batch simply lets its lease expire; another worker sends
   those deliveries again. Receivers dedupe on ``webhook-id`` (the event id),
   which is the same on every attempt.

This module is the worker: it claims the work, hands it to those steps and runs
them in a loop.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import httpcore
from sqlalchemy import select, update

from commbase.core.db import Database
from commbase.core.jobs import worker_name
from commbase.core.loops import repeat
from commbase.core.time import utcnow
from commbase.settings import Settings
from commbase.webhooks import outcomes
from commbase.webhooks.enums import DeliveryStatus, EndpointStatus
from commbase.webhooks.fan_out import create_deliveries
from commbase.webhooks.models import WebhookDelivery, WebhookEndpoint
from commbase.webhooks.outcomes import Outcome
from commbase.webhooks.sending import Sender
from commbase.webhooks.ssrf import Resolver, system_resolve

LEASE_S = 60


class Dispatcher:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        worker_id: str | None = None,
        resolver: Resolver = system_resolve,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """``resolver`` and ``network_backend`` (what opens sockets to checked
        addresses) are replaceable for tests."""
        self.database = database
        self.settings = settings
        self.worker_id = worker_id or worker_name()
        self._sender = Sender(settings, resolver=resolver, network_backend=network_backend)
        self._stop = asyncio.Event()

    async def close(self) -> None:
        await self._sender.close()

    async def fan_out(self, *, limit: int = 500) -> int:
        """Turn new outbox events into deliveries; returns how many were created."""
        return await create_deliveries(
            self.database, worker_id=self.worker_id, limit=limit, lease_s=LEASE_S
        )

    async def _claim_due(self, limit: int) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        now = utcnow()
        async with self.database.sessionmaker() as session:
            ids = list(
                (
                    await session.scalars(
                        select(WebhookDelivery.id)
                        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                        .where(
                            WebhookDelivery.status == DeliveryStatus.PENDING,
                            WebhookDelivery.next_attempt_at <= now,
                            WebhookEndpoint.status == EndpointStatus.ACTIVE,
                        )
                        .order_by(WebhookDelivery.next_attempt_at)
                        .limit(limit)
                        .with_for_update(skip_locked=True, of=WebhookDelivery)
                    )
                ).all()
            )
            if not ids:
                await session.commit()
                return []
            # The lease outlasts the batch: rounds of sends, each bounded by the deadline.
            rounds = math.ceil(len(ids) / max(1, self.settings.webhook_worker_concurrency))
            lease_s = max(LEASE_S, rounds * self.settings.webhook_timeout_s + 30)
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(claimed_by=self.worker_id, next_attempt_at=now + timedelta(seconds=lease_s))
                .execution_options(synchronize_session=False)
            )
            rows = (
                await session.execute(
                    select(WebhookDelivery, WebhookEndpoint)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.id.in_(ids))
                )
            ).all()
            await session.commit()
            return [(delivery, endpoint) for delivery, endpoint in rows]

    async def send_due(self, *, limit: int = 200) -> int:
        """Send every due delivery (up to ``limit``); returns how many were attempted."""
        claimed = await self._claim_due(limit)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.settings.webhook_worker_concurrency)

        async def send(pair: tuple[WebhookDelivery, WebhookEndpoint]) -> Outcome:
            async with gate:
                return await self._sender.send(*pair)

        sent = await asyncio.gather(*(send(pair) for pair in claimed))
        await outcomes.record(
            self.database,
            sent,
            worker_id=self.worker_id,
            disable_after=self.settings.webhook_disable_after_failures,
        )
        return len(sent)

    async def run_once(self) -> int:
        """One round: fan out new events, then send what is due."""
        created = await self.fan_out()
        sent = await self.send_due()
        return created + sent

    async def run_forever(self, *, idle_s: float = 0.25) -> None:
        await repeat(
            self.run_once, stop=self._stop, pause_s=idle_s, name="webhooks", again_when_busy=True
        )

    def stop(self) -> None:
        self._stop.set()
