"""Deliver outbox events to webhook endpoints, signed per Standard Webhooks.

Two steps, each safe for any number of workers (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite has one writer at a time anyway):

1. **Fan out** (``fan_out.py``): claim new outbox events for the ``webhooks``
   consumer and create one delivery per matching endpoint, in the same
   transaction that marks the events done — an event is fanned out exactly once.
2. **Send**: claim due deliveries with a short lease (``claimed_by``, and
   ``next_attempt_at`` pushed ``LEASE_S`` out), commit, send them concurrently
   (``sending.py``, through the connection lanes of ``lanes.py``), then record
   each outcome (``outcomes.py``: retries, failures, disabling an endpoint).
   While the batch is being sent and recorded, the worker renews its lease every
   ``RENEW_S``. A worker killed mid-batch stops renewing; its lease runs out
   within ``LEASE_S`` and another worker sends those deliveries again. Receivers
   dedupe on ``webhook-id`` (the event id), which is the same on every attempt.
   Recording the outcomes waits out a database blip (up to ``RECORD_FOR_S``) with
   the lease renewed, so a delivery that arrived is not sent again.

This module is the worker: it claims the work, hands it to those steps and runs
them in a loop.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial

import httpcore
import structlog
from sqlalchemy import select, update

from commbase.core.db import Database, retry_while_unavailable
from commbase.core.jobs import worker_name
from commbase.core.loops import repeat
from commbase.core.renewal import renewed
from commbase.core.time import utcnow
from commbase.settings import Settings
from commbase.webhooks import outcomes
from commbase.webhooks.enums import AttemptOutcome, DeliveryStatus, EndpointStatus
from commbase.webhooks.fan_out import create_deliveries
from commbase.webhooks.models import WebhookDelivery, WebhookEndpoint
from commbase.webhooks.outcomes import Outcome
from commbase.webhooks.sending import Sender
from commbase.webhooks.ssrf import Resolver, system_resolve

# A claim lasts LEASE_S unless renewed; a worker renews its batch's every RENEW_S.
LEASE_S = 10
RENEW_S = 3
# How long recording a batch's outcomes keeps trying while the database is away.
RECORD_FOR_S = 60
log = structlog.get_logger("commbase.webhooks")


class Dispatcher:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        worker_id: str | None = None,
        resolver: Resolver = system_resolve,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        renew_every_s: float = RENEW_S,
    ) -> None:
        """``resolver`` and ``network_backend`` (what opens sockets to checked
        addresses) are replaceable for tests."""
        self.database = database
        self.settings = settings
        self.worker_id = worker_id or worker_name()
        self.renew_every_s = renew_every_s
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
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(claimed_by=self.worker_id, next_attempt_at=now + timedelta(seconds=LEASE_S))
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

    async def _renew(self, ids: list[str]) -> None:
        """Extend the lease of the deliveries this worker still holds among ``ids``."""
        async with self.database.sessionmaker() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(ids),
                    WebhookDelivery.claimed_by == self.worker_id,
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                )
                .values(next_attempt_at=utcnow() + timedelta(seconds=LEASE_S))
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    async def send_due(self, *, limit: int = 200) -> int:
        """Send every due delivery (up to ``limit``); returns how many were attempted."""
        claimed = await self._claim_due(limit)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.settings.webhook_worker_concurrency)
        # Renewing and recording lock the same rows: one at a time, never a deadlock.
        writing = asyncio.Lock()

        async def send(pair: tuple[WebhookDelivery, WebhookEndpoint]) -> Outcome:
            async with gate:
                try:
                    return await self._sender.send(*pair)
                except Exception as exc:
                    # A delivery that could not even be sent (a secret that no longer
                    # decrypts, ...) is a failed attempt of its own; were it raised,
                    # no outcome of the batch would be recorded and the rest would be
                    # sent again once the claims ran out, round after round.
                    log.exception("webhook not sent", delivery=pair[0].id)
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    failed = AttemptOutcome.CONNECTION_ERROR
                    return Outcome(pair[0].id, failed, None, None, None, error, None, {})

        async def renew() -> None:
            async with writing:
                await self._renew([delivery.id for delivery, _ in claimed])

        async def record(sent: list[Outcome]) -> None:
            async with writing:
                await outcomes.record(
                    self.database,
                    sent,
                    worker_id=self.worker_id,
                    disable_after=self.settings.webhook_disable_after_failures,
                )

        async with renewed(renew, every_s=self.renew_every_s, name="webhook deliveries"):
            sent = await asyncio.gather(*(send(pair) for pair in claimed))
            await retry_while_unavailable(
                partial(record, sent), for_s=RECORD_FOR_S, what="webhook outcomes"
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
