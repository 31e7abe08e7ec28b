"""Subscription API under ``/v1/billing/subscriptions``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from commbase.billing.subscriptions import lifecycle, service
from commbase.billing.subscriptions.enums import SubscriptionStatus
from commbase.billing.subscriptions.schemas import (
    SubscriptionCancel,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(prefix="/v1/billing/subscriptions", tags=["billing subscriptions"])


@router.post("", response_model=SubscriptionRead, status_code=status.HTTP_201_CREATED)
async def create_subscription(
    body: SubscriptionCreate, principal: CurrentPrincipal, session: DbSession
) -> SubscriptionRead:
    """Starts now: a trial, or a first period invoiced at once."""
    principal.require(Scope.BILLING_WRITE)
    created = await service.create_subscription(session, org_id=principal.org_id, data=body)
    return (await service.read(session, [created]))[0]


@router.get("", response_model=Page[SubscriptionRead])
async def list_subscriptions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    customer_id: Annotated[str | None, Query(max_length=40)] = None,
    status_: Annotated[SubscriptionStatus | None, Query(alias="status")] = None,
) -> Page[SubscriptionRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_subscriptions(
        session, org_id=principal.org_id, params=page, customer_id=customer_id, status=status_
    )
    return Page(data=await service.read(session, rows), next_cursor=cursor)


@router.get("/{subscription_id}", response_model=SubscriptionRead)
async def get_subscription(
    subscription_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> SubscriptionRead:
    principal.require(Scope.BILLING_READ)
    found = await service.get_subscription(
        session, org_id=principal.org_id, subscription_id=subscription_id
    )
    return (await service.read(session, [found]))[0]


@router.patch("/{subscription_id}", response_model=SubscriptionRead)
async def update_subscription(
    subscription_id: PathId,
    body: SubscriptionUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
) -> SubscriptionRead:
    """Plan, seats, add-ons and coupon change at once; the difference for the rest of
    the period is invoiced now (more) or credited to the next invoices (less)."""
    principal.require(Scope.BILLING_WRITE)
    found = await service.get_subscription(
        session, org_id=principal.org_id, subscription_id=subscription_id, for_update=True
    )
    changed = await service.update_subscription(session, subscription=found, changes=body)
    return (await service.read(session, [changed]))[0]


@router.post("/{subscription_id}/cancel", response_model=SubscriptionRead)
async def cancel_subscription(
    subscription_id: PathId,
    body: SubscriptionCancel,
    principal: CurrentPrincipal,
    session: DbSession,
) -> SubscriptionRead:
    principal.require(Scope.BILLING_WRITE)
    found = await service.get_subscription(
        session, org_id=principal.org_id, subscription_id=subscription_id, for_update=True
    )
    changed = await lifecycle.cancel(
        session, subscription=found, at_period_end=body.at_period_end, reason=body.reason
    )
    return (await service.read(session, [changed]))[0]


@router.post("/{subscription_id}/pause", response_model=SubscriptionRead)
async def pause_subscription(
    subscription_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> SubscriptionRead:
    principal.require(Scope.BILLING_WRITE)
    found = await service.get_subscription(
        session, org_id=principal.org_id, subscription_id=subscription_id, for_update=True
    )
    changed = await lifecycle.pause(session, subscription=found)
    return (await service.read(session, [changed]))[0]


@router.post("/{subscription_id}/resume", response_model=SubscriptionRead)
async def resume_subscription(
    subscription_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> SubscriptionRead:
    """A new period starts now and is invoiced in full."""
    principal.require(Scope.BILLING_WRITE)
    found = await service.get_subscription(
        session, org_id=principal.org_id, subscription_id=subscription_id, for_update=True
    )
    changed = await lifecycle.resume(session, subscription=found)
    return (await service.read(session, [changed]))[0]
