"""Webhooks API: endpoints, secrets, event types, deliveries, retries, replays."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from commbase.core.auth import Client, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import shown_once
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.webhooks import service
from commbase.webhooks.enums import DeliveryStatus, EndpointStatus
from commbase.webhooks.schemas import (
    AttemptRead,
    DeliveryRead,
    DeliveryWithAttempts,
    EndpointCreate,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
    EventTypeList,
    ReplayQueued,
    ReplayRequest,
    SecretRotate,
)
from commbase.webhooks.ssrf import Resolver, system_resolve

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def url_resolver() -> Resolver:
    """How endpoint URLs are resolved when they are checked (a dependency tests override)."""
    return system_resolve


UrlResolver = Annotated[Resolver, Depends(url_resolver)]


@router.get("/event-types", response_model=EventTypeList)
async def list_event_types(principal: CurrentPrincipal) -> EventTypeList:
    """Every event type commbase emits, with the JSON schema of its ``data``."""
    principal.require(Scope.WEBHOOKS_MANAGE)
    return EventTypeList(data=service.event_types())


@router.post("", response_model=EndpointWithSecret, status_code=status.HTTP_201_CREATED)
async def create_endpoint(
    body: EndpointCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
    resolver: UrlResolver,
) -> Any:
    """A new endpoint and its signing secret (shown only here). An agent session's
    endpoint is its own: only it sees it, and it hears only that session's events."""
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint, secret = await service.create_endpoint(
        session,
        data=body,
        actor=principal,
        client=client,
        server_secret=settings.secret_key.get_secret_value(),
        allow_private=settings.webhooks_allow_private_urls,
        resolver=resolver,
    )
    return shown_once(
        response, EndpointWithSecret, EndpointRead.model_validate(endpoint), secret=secret
    )


@router.get("", response_model=Page[EndpointRead])
async def list_endpoints(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[EndpointStatus | None, Query(alias="status")] = None,
) -> Any:
    principal.require(Scope.WEBHOOKS_MANAGE)
    rows, cursor = await service.list_endpoints(
        session, actor=principal, params=page, status=status_
    )
    return Page(data=[EndpointRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{endpoint_id}", response_model=EndpointRead)
async def get_endpoint(endpoint_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.WEBHOOKS_MANAGE)
    return await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)


@router.patch("/{endpoint_id}", response_model=EndpointRead)
async def update_endpoint(
    endpoint_id: PathId,
    body: EndpointUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
    resolver: UrlResolver,
) -> Any:
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    return await service.update_endpoint(
        session,
        endpoint=endpoint,
        changes=body,
        actor=principal,
        client=client,
        allow_private=settings.webhooks_allow_private_urls,
        resolver=resolver,
    )


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(
    endpoint_id: PathId, principal: CurrentPrincipal, session: DbSession, client: Client
) -> None:
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    await service.delete_endpoint(session, endpoint=endpoint, actor=principal, client=client)


@router.post("/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_secret(
    endpoint_id: PathId,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
    body: SecretRotate | None = None,
) -> Any:
    """A new signing secret; until the grace period ends, deliveries are signed with both."""
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    secret = await service.rotate_secret(
        session,
        endpoint=endpoint,
        grace_period_s=(body or SecretRotate()).grace_period_s,
        actor=principal,
        client=client,
        server_secret=settings.secret_key.get_secret_value(),
    )
    return shown_once(
        response, EndpointWithSecret, EndpointRead.model_validate(endpoint), secret=secret
    )


@router.post(
    "/{endpoint_id}/test", response_model=DeliveryRead, status_code=status.HTTP_202_ACCEPTED
)
async def send_test(endpoint_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    """Queue a ``webhook.test`` ping to this endpoint."""
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    return await service.send_test(session, endpoint=endpoint)


@router.get("/{endpoint_id}/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    endpoint_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> Any:
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    rows, cursor = await service.list_deliveries(
        session, endpoint=endpoint, params=page, status=status_
    )
    return Page(data=[DeliveryRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{endpoint_id}/deliveries/{delivery_id}", response_model=DeliveryWithAttempts)
async def get_delivery(
    endpoint_id: PathId, delivery_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    delivery = await service.get_delivery(session, endpoint=endpoint, delivery_id=delivery_id)
    attempts = await service.attempts_of(session, delivery=delivery)
    return DeliveryWithAttempts.model_validate(
        {
            **DeliveryRead.model_validate(delivery).model_dump(),
            "attempt_log": [AttemptRead.model_validate(a) for a in attempts],
        }
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryRead,
    status_code=status.HTTP_202_ACCEPTED,
)
async def retry_delivery(
    endpoint_id: PathId, delivery_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    delivery = await service.get_delivery(session, endpoint=endpoint, delivery_id=delivery_id)
    return await service.retry_delivery(session, delivery=delivery)


@router.post(
    "/{endpoint_id}/replay", response_model=ReplayQueued, status_code=status.HTTP_202_ACCEPTED
)
async def replay(
    endpoint_id: PathId, body: ReplayRequest, principal: CurrentPrincipal, session: DbSession
) -> ReplayQueued:
    """Send again every subscribed event recorded in ``[since, until)`` (up to 10,000)."""
    principal.require(Scope.WEBHOOKS_MANAGE)
    endpoint = await service.get_endpoint(session, actor=principal, endpoint_id=endpoint_id)
    count = await service.replay(session, endpoint=endpoint, since=body.since, until=body.until)
    return ReplayQueued(queued=count)
