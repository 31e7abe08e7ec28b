"""Fan-out: new outbox events become one delivery per endpoint that receives them.

Events are claimed for the ``webhooks`` outbox consumer (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of workers may run this) and marked done in
the same transaction that creates their deliveries: an event is fanned out
exactly once. An endpoint hears the events recorded from its creation on, of the
types it subscribed to (an agent session's endpoint: only those about that
session's own work); a paused endpoint collects deliveries, sent once it is
active again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.time import utcnow
from commbase.webhooks.enums import EndpointStatus
from commbase.webhooks.models import WebhookDelivery, WebhookEndpoint
from commbase.webhooks.service import envelope, receives

CONSUMER = outbox.register_consumer("webhooks")


async def create_deliveries(database: Database, *, worker_id: str, limit: int, lease_s: int) -> int:
    """Turn new outbox events into deliveries; returns how many were created."""
    async with database.sessionmaker() as session:
        claimed = await outbox.claim(
            session, consumer=CONSUMER, worker_id=worker_id, limit=limit, lease_s=lease_s
        )
        if not claimed:
            await session.commit()
            return 0
        endpoints = (
            await session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.org_id.in_({c.org_id for c in claimed}),
                    WebhookEndpoint.status.in_((EndpointStatus.ACTIVE, EndpointStatus.PAUSED)),
                )
            )
        ).all()
        existing = set(
            (
                await session.execute(
                    select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                        WebhookDelivery.event_id.in_([c.event_id for c in claimed])
                    )
                )
            ).all()
        )
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for event in claimed:
            for endpoint in endpoints:
                # An endpoint hears events recorded from its creation on.
                if (
                    endpoint.org_id != event.org_id
                    or event.created_at < endpoint.created_at
                    or not receives(endpoint, event_type=event.type, payload=event.payload)
                ):
                    continue
                if (endpoint.id, event.event_id) in existing:
                    continue
                rows.append(
                    {
                        "org_id": event.org_id,
                        "endpoint_id": endpoint.id,
                        "event_id": event.event_id,
                        "event_type": event.type,
                        "payload": envelope(
                            event_type=event.type,
                            created_at=event.created_at,
                            data=event.payload,
                        ),
                        "next_attempt_at": now,
                    }
                )
        if rows:
            # One bulk INSERT (the columns' defaults fill id, status, created_at...).
            await session.execute(insert(WebhookDelivery), rows)
        await outbox.complete(
            session, delivery_ids=[c.delivery_id for c in claimed], worker_id=worker_id
        )
        await session.commit()
        return len(rows)
