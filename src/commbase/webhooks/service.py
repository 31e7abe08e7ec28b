"""Webhook endpoints: create, change, rotate secrets, test, retry, replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import Principal
from commbase.core.errors import Conflict, NotFound
from commbase.core.http import ClientInfo
from commbase.core.ids import new_id
from commbase.core.outbox import OutboxEvent
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import audit
from commbase.webhooks import events, secrets
from commbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from commbase.webhooks.schemas import EndpointCreate, EndpointUpdate
from commbase.webhooks.ssrf import check_url


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """``*`` matches everything, ``call.*`` every ``call.`` event, else exact names."""
    return any(
        pattern == "*"
        or pattern == event_type
        or (pattern.endswith(".*") and fnmatchcase(event_type, pattern))
        for pattern in patterns
    )


def envelope(
    *, event_type: str, created_at: datetime, data: dict[str, object]
) -> dict[str, object]:
    """The body every delivery carries."""
    return {"type": event_type, "timestamp": created_at.isoformat(), "data": data}


async def create_endpoint(
    session: AsyncSession,
    *,
    data: EndpointCreate,
    actor: Principal,
    client: ClientInfo,
    server_secret: str,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    await check_url(data.url, allow_private=allow_private)
    secret = secrets.new_secret()
    endpoint = WebhookEndpoint(
        org_id=actor.org_id,
        url=data.url,
        description=data.description,
        event_types=sorted(set(data.event_types)),
        retry_schedule=data.retry_schedule,
        secret_encrypted=secrets.encrypt(secret, server_secret=server_secret),
        owner_user_id=actor.user_id,
    )
    session.add(endpoint)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        action="webhook.created",
        actor=actor,
        target_type="webhook",
        target_id=endpoint.id,
        client=client,
        details={"url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint, secret


async def get_endpoint(session: AsyncSession, *, org_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.org_id == org_id, WebhookEndpoint.id == endpoint_id
        )
    )
    if endpoint is None:
        raise NotFound("Webhook endpoint not found")
    return endpoint


async def list_endpoints(
    session: AsyncSession, *, org_id: str, params: PageParams, status: str | None = None
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.org_id == org_id)
    if status:
        statement = statement.where(WebhookEndpoint.status == status)
    return await paginate(session, statement, id_column=WebhookEndpoint.id, params=params)


async def update_endpoint(
    session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    changes: EndpointUpdate,
    actor: Principal,
    client: ClientInfo,
    allow_private: bool,
) -> WebhookEndpoint:
    data = changes.model_dump(exclude_unset=True)
    if data.get("url"):
        await check_url(data["url"], allow_private=allow_private)
    if data.get("event_types") is not None:
        data["event_types"] = sorted(set(data["event_types"]))
    if data.get("status") == "active" and endpoint.status == "disabled":
        endpoint.consecutive_failures = 0
        endpoint.disabled_reason = None
    for field, value in data.items():
        if value is not None or field == "description":
            setattr(endpoint, field, value)
    await audit.record(
        session,
        org_id=endpoint.org_id,
        action="webhook.updated",
        actor=actor,
        target_type="webhook",
        target_id=endpoint.id,
        client=client,
        details={"fields": sorted(data)},
    )
    await session.flush()
    return endpoint


async def delete_endpoint(
    session: AsyncSession, *, endpoint: WebhookEndpoint, actor: Principal, client: ClientInfo
) -> None:
    await audit.record(
        session,
        org_id=endpoint.org_id,
        action="webhook.deleted",
        actor=actor,
        target_type="webhook",
        target_id=endpoint.id,
        client=client,
        details={"url": endpoint.url},
    )
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    grace_period_s: int,
    actor: Principal,
    client: ClientInfo,
    server_secret: str,
) -> str:
    """A new signing secret; deliveries carry signatures by both until the grace ends."""
    secret = secrets.new_secret()
    if grace_period_s > 0:
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = utcnow() + timedelta(seconds=grace_period_s)
    else:
        endpoint.previous_secret_encrypted = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_encrypted = secrets.encrypt(secret, server_secret=server_secret)
    await audit.record(
        session,
        org_id=endpoint.org_id,
        action="webhook.secret_rotated",
        actor=actor,
        target_type="webhook",
        target_id=endpoint.id,
        client=client,
        details={"grace_period_s": grace_period_s},
    )
    await session.flush()
    return secret


async def send_test(session: AsyncSession, *, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``webhook.test`` ping for this endpoint only."""
    now = utcnow()
    event_id = new_id("evt")
    delivery = WebhookDelivery(
        org_id=endpoint.org_id,
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=events.WEBHOOK_TEST,
        payload=envelope(
            event_type=events.WEBHOOK_TEST,
            created_at=now,
            data={"endpoint_id": endpoint.id, "message": "Hello from commbase"},
        ),
        next_attempt_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def list_deliveries(
    session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    params: PageParams,
    status: str | None = None,
) -> tuple[Sequence[WebhookDelivery], str | None]:
    statement = select(WebhookDelivery).where(
        WebhookDelivery.org_id == endpoint.org_id, WebhookDelivery.endpoint_id == endpoint.id
    )
    if status:
        statement = statement.where(WebhookDelivery.status == status)
    return await paginate(session, statement, id_column=WebhookDelivery.id, params=params)


async def get_delivery(
    session: AsyncSession, *, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDelivery:
    delivery = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.org_id == endpoint.org_id,
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.id == delivery_id,
        )
    )
    if delivery is None:
        raise NotFound("Delivery not found")
    return delivery


async def attempts_of(
    session: AsyncSession, *, delivery: WebhookDelivery
) -> Sequence[WebhookAttempt]:
    return (
        await session.scalars(
            select(WebhookAttempt)
            .where(
                WebhookAttempt.org_id == delivery.org_id,
                WebhookAttempt.delivery_id == delivery.id,
            )
            .order_by(WebhookAttempt.id)
        )
    ).all()


async def retry_delivery(session: AsyncSession, *, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, with a fresh retry schedule."""
    if delivery.status == "pending" and delivery.claimed_by is not None:
        raise Conflict("This delivery is being sent right now")
    if delivery.payload is None:
        raise Conflict("This delivery's payload has expired and cannot be sent again")
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.completed_at = None
    await session.flush()
    return delivery


async def replay(
    session: AsyncSession, *, endpoint: WebhookEndpoint, since: datetime, until: datetime | None
) -> int:
    """Queue again every event of the range that this endpoint subscribes to."""
    statement = select(OutboxEvent).where(
        OutboxEvent.org_id == endpoint.org_id, OutboxEvent.created_at >= since
    )
    if until is not None:
        statement = statement.where(OutboxEvent.created_at < until)
    events_ = [
        e
        for e in await session.scalars(statement.limit(10_000))
        if matches(endpoint.event_types, e.type)
    ]
    existing = {
        d.event_id: d
        for d in await session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.event_id.in_([e.id for e in events_]),
            )
        )
    }
    now = utcnow()
    for event in events_:
        delivery = existing.get(event.id)
        if delivery is None:
            session.add(
                WebhookDelivery(
                    org_id=endpoint.org_id,
                    endpoint_id=endpoint.id,
                    event_id=event.id,
                    event_type=event.type,
                    payload=envelope(
                        event_type=event.type, created_at=event.created_at, data=event.payload
                    ),
                    next_attempt_at=now,
                )
            )
        elif delivery.payload is not None and not (
            delivery.status == "pending" and delivery.claimed_by
        ):
            delivery.status, delivery.attempts = "pending", 0
            delivery.next_attempt_at, delivery.completed_at = now, None
    await session.flush()
    return len(events_)
