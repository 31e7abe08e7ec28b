"""Catalog API: plans, add-ons, coupons and tax rates under ``/v1/billing``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from commbase.billing.catalog import service
from commbase.billing.catalog.models import AddOn, Coupon, Plan, TaxRate
from commbase.billing.catalog.schemas import (
    AddOnCreate,
    AddOnRead,
    AddOnUpdate,
    CouponCreate,
    CouponRead,
    PlanCreate,
    PlanRead,
    PlanUpdate,
    TaxRateRead,
    TaxRateSet,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(prefix="/v1/billing", tags=["billing catalog"])
Archived = Annotated[bool | None, Query(description="true: archived only; false: live only")]


@router.post("/plans", response_model=PlanRead, status_code=status.HTTP_201_CREATED)
async def create_plan(body: PlanCreate, principal: CurrentPrincipal, session: DbSession) -> Plan:
    principal.require(Scope.BILLING_WRITE)
    return await service.create_plan(session, org_id=principal.org_id, data=body)


@router.get("/plans", response_model=Page[PlanRead])
async def list_plans(
    principal: CurrentPrincipal, session: DbSession, page: PageQuery, archived: Archived = None
) -> Page[PlanRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_plans(
        session, org_id=principal.org_id, params=page, archived=archived
    )
    return Page(data=[PlanRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/plans/{plan_id}", response_model=PlanRead)
async def get_plan(plan_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Plan:
    principal.require(Scope.BILLING_READ)
    return await service.get_plan(session, org_id=principal.org_id, plan_id=plan_id)


@router.patch("/plans/{plan_id}", response_model=PlanRead)
async def update_plan(
    plan_id: PathId, body: PlanUpdate, principal: CurrentPrincipal, session: DbSession
) -> Plan:
    principal.require(Scope.BILLING_WRITE)
    plan = await service.get_plan(session, org_id=principal.org_id, plan_id=plan_id)
    return await service.update_plan(session, plan=plan, changes=body)


@router.post("/plans/{plan_id}/archive", response_model=PlanRead)
async def archive_plan(plan_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Plan:
    """Offered no more; its subscriptions keep renewing."""
    principal.require(Scope.BILLING_WRITE)
    plan = await service.get_plan(session, org_id=principal.org_id, plan_id=plan_id)
    return await service.archive_plan(session, plan=plan)


@router.delete("/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_plan(plan_id: PathId, principal: CurrentPrincipal, session: DbSession) -> None:
    """Only a plan no subscription ever used (409 otherwise: archive it)."""
    principal.require(Scope.BILLING_WRITE)
    plan = await service.get_plan(session, org_id=principal.org_id, plan_id=plan_id)
    await service.delete_plan(session, plan=plan)


@router.post("/addons", response_model=AddOnRead, status_code=status.HTTP_201_CREATED)
async def create_addon(body: AddOnCreate, principal: CurrentPrincipal, session: DbSession) -> AddOn:
    principal.require(Scope.BILLING_WRITE)
    return await service.create_addon(session, org_id=principal.org_id, data=body)


@router.get("/addons", response_model=Page[AddOnRead])
async def list_addons(
    principal: CurrentPrincipal, session: DbSession, page: PageQuery, archived: Archived = None
) -> Page[AddOnRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_addons(
        session, org_id=principal.org_id, params=page, archived=archived
    )
    return Page(data=[AddOnRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/addons/{addon_id}", response_model=AddOnRead)
async def get_addon(addon_id: PathId, principal: CurrentPrincipal, session: DbSession) -> AddOn:
    principal.require(Scope.BILLING_READ)
    return await service.get_addon(session, org_id=principal.org_id, addon_id=addon_id)


@router.patch("/addons/{addon_id}", response_model=AddOnRead)
async def update_addon(
    addon_id: PathId, body: AddOnUpdate, principal: CurrentPrincipal, session: DbSession
) -> AddOn:
    principal.require(Scope.BILLING_WRITE)
    addon = await service.get_addon(session, org_id=principal.org_id, addon_id=addon_id)
    return await service.update_addon(session, addon=addon, changes=body)


@router.post("/addons/{addon_id}/archive", response_model=AddOnRead)
async def archive_addon(addon_id: PathId, principal: CurrentPrincipal, session: DbSession) -> AddOn:
    principal.require(Scope.BILLING_WRITE)
    addon = await service.get_addon(session, org_id=principal.org_id, addon_id=addon_id)
    return await service.archive_addon(session, addon=addon)


@router.delete("/addons/{addon_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_addon(addon_id: PathId, principal: CurrentPrincipal, session: DbSession) -> None:
    principal.require(Scope.BILLING_WRITE)
    addon = await service.get_addon(session, org_id=principal.org_id, addon_id=addon_id)
    await service.delete_addon(session, addon=addon)


@router.post("/coupons", response_model=CouponRead, status_code=status.HTTP_201_CREATED)
async def create_coupon(
    body: CouponCreate, principal: CurrentPrincipal, session: DbSession
) -> Coupon:
    principal.require(Scope.BILLING_WRITE)
    return await service.create_coupon(session, org_id=principal.org_id, data=body)


@router.get("/coupons", response_model=Page[CouponRead])
async def list_coupons(
    principal: CurrentPrincipal, session: DbSession, page: PageQuery, archived: Archived = None
) -> Page[CouponRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_coupons(
        session, org_id=principal.org_id, params=page, archived=archived
    )
    return Page(data=[CouponRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/coupons/{coupon_id}", response_model=CouponRead)
async def get_coupon(coupon_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Coupon:
    principal.require(Scope.BILLING_READ)
    return await service.get_coupon(session, org_id=principal.org_id, coupon_id=coupon_id)


@router.post("/coupons/{coupon_id}/archive", response_model=CouponRead)
async def archive_coupon(
    coupon_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Coupon:
    principal.require(Scope.BILLING_WRITE)
    coupon = await service.get_coupon(session, org_id=principal.org_id, coupon_id=coupon_id)
    return await service.archive_coupon(session, coupon=coupon)


@router.put("/tax-rates", response_model=TaxRateRead)
async def set_tax_rate(
    body: TaxRateSet, principal: CurrentPrincipal, session: DbSession
) -> TaxRate:
    """Create or replace the rate for a customer's tax country (null: every other one)."""
    principal.require(Scope.BILLING_WRITE)
    return await service.set_tax_rate(session, org_id=principal.org_id, data=body)


@router.get("/tax-rates", response_model=Page[TaxRateRead])
async def list_tax_rates(
    principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Page[TaxRateRead]:
    principal.require(Scope.BILLING_READ)
    rows, cursor = await service.list_tax_rates(session, org_id=principal.org_id, params=page)
    return Page(data=[TaxRateRead.model_validate(r) for r in rows], next_cursor=cursor)
