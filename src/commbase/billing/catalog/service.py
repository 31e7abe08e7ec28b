"""Plans, add-ons, coupons and tax rates: created, read, archived, never deleted while
a subscription uses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.catalog.models import AddOn, Coupon, Plan, TaxRate
from commbase.billing.catalog.schemas import (
    AddOnCreate,
    AddOnUpdate,
    CouponCreate,
    PlanCreate,
    PlanUpdate,
    TaxRateSet,
)
from commbase.billing.subscriptions.models import Subscription, SubscriptionAddOn
from commbase.core.errors import AlreadyExists, Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow

Row = TypeVar("Row", Plan, AddOn, Coupon)


async def _insert(session: AsyncSession, row: Row, kind: str) -> Row:
    """Add ``row``; a 409 when its code is taken (checked in a savepoint)."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(f"A {kind} with code {row.code!r} already exists") from exc
    return row


async def _get(session: AsyncSession, model: type[Row], *, org_id: str, row_id: str) -> Row:
    row = await session.scalar(select(model).where(model.org_id == org_id, model.id == row_id))
    if row is None:
        raise NotFound(f"{model.__name__} not found")
    return row


async def _list(
    session: AsyncSession,
    model: type[Row],
    *,
    org_id: str,
    params: PageParams,
    archived: bool | None,
) -> tuple[Sequence[Row], str | None]:
    statement = select(model).where(model.org_id == org_id)
    if archived is not None:
        column = model.archived_at
        statement = statement.where(column.is_not(None) if archived else column.is_(None))
    return await paginate(session, statement, id_column=model.id, params=params)


def _apply(row: Any, changes: dict[str, Any]) -> None:
    for field, value in changes.items():
        setattr(row, field, value)


# ------------------------------------------------------------------ plans


async def create_plan(session: AsyncSession, *, org_id: str, data: PlanCreate) -> Plan:
    return await _insert(session, Plan(org_id=org_id, **data.model_dump()), "plan")


async def get_plan(session: AsyncSession, *, org_id: str, plan_id: str) -> Plan:
    return await _get(session, Plan, org_id=org_id, row_id=plan_id)


async def list_plans(
    session: AsyncSession, *, org_id: str, params: PageParams, archived: bool | None = None
) -> tuple[Sequence[Plan], str | None]:
    return await _list(session, Plan, org_id=org_id, params=params, archived=archived)


async def update_plan(session: AsyncSession, *, plan: Plan, changes: PlanUpdate) -> Plan:
    _apply(plan, changes.model_dump(exclude_unset=True))
    await session.flush()
    return plan


async def archive_plan(session: AsyncSession, *, plan: Plan) -> Plan:
    """No new subscriptions; existing ones keep renewing."""
    plan.archived_at = plan.archived_at or utcnow()
    await session.flush()
    return plan


async def delete_plan(session: AsyncSession, *, plan: Plan) -> None:
    """Delete a plan no subscription ever used; a 409 otherwise (archive it instead)."""
    used = await session.scalar(select(exists().where(Subscription.plan_id == plan.id)))
    if used:
        raise Conflict("Subscriptions use this plan: archive it instead", plan_id=plan.id)
    await session.delete(plan)
    await session.flush()


# ------------------------------------------------------------------ add-ons


async def create_addon(session: AsyncSession, *, org_id: str, data: AddOnCreate) -> AddOn:
    return await _insert(session, AddOn(org_id=org_id, **data.model_dump()), "add-on")


async def get_addon(session: AsyncSession, *, org_id: str, addon_id: str) -> AddOn:
    return await _get(session, AddOn, org_id=org_id, row_id=addon_id)


async def list_addons(
    session: AsyncSession, *, org_id: str, params: PageParams, archived: bool | None = None
) -> tuple[Sequence[AddOn], str | None]:
    return await _list(session, AddOn, org_id=org_id, params=params, archived=archived)


async def update_addon(session: AsyncSession, *, addon: AddOn, changes: AddOnUpdate) -> AddOn:
    _apply(addon, changes.model_dump(exclude_unset=True))
    await session.flush()
    return addon


async def archive_addon(session: AsyncSession, *, addon: AddOn) -> AddOn:
    addon.archived_at = addon.archived_at or utcnow()
    await session.flush()
    return addon


async def delete_addon(session: AsyncSession, *, addon: AddOn) -> None:
    used = await session.scalar(select(exists().where(SubscriptionAddOn.addon_id == addon.id)))
    if used:
        raise Conflict("Subscriptions use this add-on: archive it instead", addon_id=addon.id)
    await session.delete(addon)
    await session.flush()


async def addons_by_id(
    session: AsyncSession, *, org_id: str, addon_ids: Sequence[str]
) -> dict[str, AddOn]:
    if not addon_ids:
        return {}
    rows = await session.scalars(
        select(AddOn).where(AddOn.org_id == org_id, AddOn.id.in_(addon_ids))
    )
    return {row.id: row for row in rows}


# ------------------------------------------------------------------ coupons


async def create_coupon(session: AsyncSession, *, org_id: str, data: CouponCreate) -> Coupon:
    return await _insert(session, Coupon(org_id=org_id, **data.model_dump()), "coupon")


async def get_coupon(session: AsyncSession, *, org_id: str, coupon_id: str) -> Coupon:
    return await _get(session, Coupon, org_id=org_id, row_id=coupon_id)


async def list_coupons(
    session: AsyncSession, *, org_id: str, params: PageParams, archived: bool | None = None
) -> tuple[Sequence[Coupon], str | None]:
    return await _list(session, Coupon, org_id=org_id, params=params, archived=archived)


async def archive_coupon(session: AsyncSession, *, coupon: Coupon) -> Coupon:
    """No new redemptions; subscriptions holding it keep their discount."""
    coupon.archived_at = coupon.archived_at or utcnow()
    await session.flush()
    return coupon


# ------------------------------------------------------------------ tax rates


async def set_tax_rate(session: AsyncSession, *, org_id: str, data: TaxRateSet) -> TaxRate:
    """Create or replace the rate for a country (null: the organization's default)."""
    rate = await session.scalar(
        select(TaxRate).where(
            TaxRate.org_id == org_id,
            TaxRate.country.is_(None) if data.country is None else TaxRate.country == data.country,
        )
    )
    if rate is None:
        rate = TaxRate(org_id=org_id)
        session.add(rate)
    _apply(rate, data.model_dump())
    await session.flush()
    return rate


async def list_tax_rates(
    session: AsyncSession, *, org_id: str, params: PageParams
) -> tuple[Sequence[TaxRate], str | None]:
    statement = select(TaxRate).where(TaxRate.org_id == org_id)
    return await paginate(session, statement, id_column=TaxRate.id, params=params)


async def tax_rate_for(
    session: AsyncSession, *, org_id: str, country: str | None
) -> TaxRate | None:
    """The rate for customers of ``country``, else the organization's default, else none."""
    rates = await session.scalars(
        select(TaxRate).where(
            TaxRate.org_id == org_id,
            (TaxRate.country.is_(None)) | (TaxRate.country == (country or "")),
        )
    )
    by_country = {rate.country: rate for rate in rates}
    return by_country.get(country) or by_country.get(None)
