"""License API: seats of a subscription, and entitlement checks for the holder."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from commbase.billing.licenses import service, usage
from commbase.billing.licenses.models import License
from commbase.billing.licenses.schemas import (
    EntitlementRead,
    LicenseAssign,
    LicenseRead,
    LicenseUsage,
)
from commbase.billing.subscriptions import service as subscriptions
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.identity import service as identity_service

router = APIRouter(prefix="/v1/billing", tags=["billing licenses"])


@router.post(
    "/subscriptions/{subscription_id}/licenses",
    response_model=LicenseRead,
    status_code=status.HTTP_201_CREATED,
)
async def assign_license(
    subscription_id: PathId, body: LicenseAssign, principal: CurrentPrincipal, session: DbSession
) -> License:
    """One seat (of the subscription's ``quantity``) to a member of the customer
    organization (or to the member customer); 409 when every seat is taken."""
    principal.require(Scope.BILLING_WRITE)
    subscription = await subscriptions.get_subscription(
        session, org_id=principal.org_id, subscription_id=subscription_id, for_update=True
    )
    return await service.assign(
        session, subscription=subscription, user_id=body.user_id, actor_id=principal.actor_id
    )


@router.get("/subscriptions/{subscription_id}/licenses", response_model=Page[LicenseRead])
async def list_licenses(
    subscription_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    live: Annotated[bool | None, Query(description="true: held now; false: ended")] = None,
) -> Page[LicenseRead]:
    """Every assignment, newest first (the assignment history)."""
    principal.require(Scope.BILLING_READ)
    subscription = await subscriptions.get_subscription(
        session, org_id=principal.org_id, subscription_id=subscription_id
    )
    rows, cursor = await service.list_licenses(
        session, org_id=principal.org_id, subscription_id=subscription.id, params=page, live=live
    )
    return Page(data=[LicenseRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/licenses/{license_id}/unassign", response_model=LicenseRead)
async def unassign_license(
    license_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> License:
    principal.require(Scope.BILLING_WRITE)
    found = await service.get_license(session, org_id=principal.org_id, license_id=license_id)
    return await service.unassign(session, license_=found)


@router.get("/licenses/{license_id}/usage", response_model=LicenseUsage)
async def license_usage(
    license_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> LicenseUsage:
    """The seat's calls from the metric registry: total calls and talk time, calls this
    period, average duration and success rate while the user held it."""
    principal.require(Scope.BILLING_READ)
    found = await service.get_license(session, org_id=principal.org_id, license_id=license_id)
    subscription = await subscriptions.get_subscription(
        session, org_id=principal.org_id, subscription_id=found.subscription_id
    )
    return await usage.license_usage(session, license_=found, subscription=subscription)


@router.get("/entitlements", response_model=EntitlementRead)
async def check_entitlement(
    principal: CurrentPrincipal,
    session: DbSession,
    feature: Annotated[str, Query(min_length=1, max_length=60)],
    user_id: Annotated[str, Query(min_length=1, max_length=40)],
) -> EntitlementRead:
    """Whether a member of your organization may use ``feature``: the license that grants
    it (from any organization that bills you, or your own plans), else 403."""
    principal.require(Scope.BILLING_READ)
    await identity_service.get_member_user(session, org_id=principal.org_id, user_id=user_id)
    return await service.entitlement(
        session, holder_org_id=principal.org_id, user_id=user_id, feature=feature
    )
