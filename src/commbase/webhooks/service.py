"""Webhook endpoints: create, change, rotate secrets, test, retry, replay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import events as event_catalogue
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.errors import Conflict, NotFound
from commbase.core.http import ClientInfo
from commbase.core.ids import new_id
from commbase.core.outbox import OutboxEvent
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import audit
from commbase.webhooks import events, secrets
from commbase.webhooks.enums import DeliveryStatus, EndpointStatus
from commbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from commbase.webhooks.schemas import EndpointCreate, EndpointUpdate, EventTypeRead
from commbase.webhooks.ssrf import Resolver, check_url, system_resolve

# Payload fields that name the agent session an event is about.
_AGENT_SESSION_FIELDS = ("agent_session_id", "owner_agent_session_id")


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """``*`` matches everything, ``call.*`` every ``call.`` event, else exact names."""
    return any(
        pattern == "*"
        or pattern == event_type
        or (pattern.endswith(".*") and fnmatchcase(event_type, pattern))
        for pattern in patterns
    )


def agent_session_of(*, event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The agent session an event is about, as its payload names it (None: no session)."""
    for field in _AGENT_SESSION_FIELDS:
        value = payload.get(field)
        if isinstance(value, str):
            return value
    if event_type.startswith("agent_session."):
        value = payload.get("id")
        return value if isinstance(value, str) else None
    return None


def receives(endpoint: WebhookEndpoint, *, event_type: str, payload: Mapping[str, Any]) -> bool:
    """Whether the endpoint subscribes to this event. An agent session's endpoint hears
    only events about that session's own work; other endpoints every matching event."""
    if not matches(endpoint.event_types, event_type):
        return False
    owner = endpoint.owner_agent_session_id
    return owner is None or agent_session_of(event_type=event_type, payload=payload) == owner


def owning_agent_session(actor: Principal) -> str | None:
    """The agent session whose endpoints ``actor`` is limited to (None: the whole org's)."""
    return actor.credential_id if actor.kind == PrincipalKind.AGENT_SESSION else None


def _visible(actor: Principal) -> Select[WebhookEndpoint]:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.org_id == actor.org_id)
    agent_session_id = owning_agent_session(actor)
    if agent_session_id is not None:
        statement = statement.where(WebhookEndpoint.owner_agent_session_id == agent_session_id)
    return statement


def event_types() -> list[EventTypeRead]:
    """Every declared event type, with the JSON schema of its payload."""
    return [
        EventTypeRead(name=t.name, description=t.description, payload_schema=t.json_schema())
        for t in event_catalogue.event_types()
    ]


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
    resolver: Resolver = system_resolve,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once); an agent session owns its own."""
    await check_url(data.url, allow_private=allow_private, resolver=resolver)
    secret = secrets.new_secret()
    endpoint = WebhookEndpoint(
        org_id=actor.org_id,
        url=data.url,
        description=data.description,
        event_types=sorted(set(data.event_types)),
        retry_schedule=data.retry_schedule,
        secret_encrypted=secrets.encrypt(secret, server_secret=server_secret),
        owner_user_id=actor.user_id,
        owner_agent_session_id=owning_agent_session(actor),
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


async def get_endpoint(
    session: AsyncSession, *, actor: Principal, endpoint_id: str
) -> WebhookEndpoint:
    """The endpoint if ``actor`` may see it (an agent session: only its own); else NotFound."""
    endpoint = await session.scalar(_visible(actor).where(WebhookEndpoint.id == endpoint_id))
    if endpoint is None:
        raise NotFound("Webhook endpoint not found")
    return endpoint


async def list_endpoints(
    session: AsyncSession,
    *,
    actor: Principal,
    params: PageParams,
    status: EndpointStatus | None = None,
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    statement = _visible(actor)
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
    resolver: Resolver = system_resolve,
) -> WebhookEndpoint:
    """Apply the fields sent (only ``description`` may be null: the schema refuses others)."""
    data = changes.model_dump(exclude_unset=True)
    if "url" in data:
        await check_url(data["url"], allow_private=allow_private, resolver=resolver)
    if "event_types" in data:
        data["event_types"] = sorted(set(data["event_types"]))
    if data.get("status") == EndpointStatus.ACTIVE and endpoint.status == EndpointStatus.DISABLED:
        endpoint.consecutive_failures = 0
        endpoint.disabled_reason = None
    for field, value in data.items():
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
    status: DeliveryStatus | None = None,
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
    if delivery.status == DeliveryStatus.PENDING and delivery.claimed_by is not None:
        raise Conflict("This delivery is being sent right now")
    if delivery.payload is None:
        raise Conflict("This delivery's payload has expired and cannot be sent again")
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.completed_at = None
    await session.flush()
    return delivery


async def replay(
    session: AsyncSession, *, endpoint: WebhookEndpoint, since: datetime, until: datetime | None
) -> int:
    """Queue again every event of the range that this endpoint receives; returns how many."""
    statement = select(OutboxEvent).where(
        OutboxEvent.org_id == endpoint.org_id, OutboxEvent.created_at >= since
    )
    if until is not None:
        statement = statement.where(OutboxEvent.created_at < until)
    events_ = [
        e
        for e in await session.scalars(
            statement.order_by(OutboxEvent.created_at, OutboxEvent.id).limit(10_000)
        )
        if receives(endpoint, event_type=e.type, payload=e.payload)
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
            delivery.status == DeliveryStatus.PENDING and delivery.claimed_by
        ):
            delivery.status, delivery.attempts = DeliveryStatus.PENDING, 0
            delivery.next_attempt_at, delivery.completed_at = now, None
    await session.flush()
    return len(events_)
