"""The billing forecast: what renewals will invoice in the coming days, per currency.

Every live subscription not set to end (trials included: they convert at their
end) is walked period by period through the window; each renewal bills its plan and
add-ons at today's quantities, less a coupon that will still apply to that period
(``forever``; ``repeating`` for periods starting before it runs out; ``once`` only
while unused). Tax and changes not made yet are not forecast. The catalog and the
subscriptions' add-ons are read in a few queries, not one per subscription.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.catalog.enums import CouponDuration
from commbase.billing.catalog.models import AddOn, Coupon, Plan
from commbase.billing.revenue.schemas import Forecast, ForecastCurrency
from commbase.billing.subscriptions import pricing
from commbase.billing.subscriptions.enums import LIVE
from commbase.billing.subscriptions.models import Subscription, SubscriptionAddOn
from commbase.core.time import utcnow


def _discounted(
    sub: Subscription, coupon: Coupon | None, period_start: datetime, first: bool
) -> bool:
    if coupon is None or not sub.discount_active:
        return False
    if coupon.duration == CouponDuration.ONCE:
        return first
    if coupon.duration == CouponDuration.REPEATING:
        return sub.discount_ends_at is not None and period_start < sub.discount_ends_at
    return True


async def forecast(session: AsyncSession, *, org_id: str, days: int) -> Forecast:
    now = utcnow()
    until = now + timedelta(days=days)
    subs = (
        await session.scalars(
            select(Subscription).where(
                Subscription.org_id == org_id,
                Subscription.status.in_(list(LIVE)),
                Subscription.cancel_at_period_end.is_(False),
                Subscription.current_period_end <= until,
            )
        )
    ).all()
    plans = {p.id: p for p in await session.scalars(select(Plan).where(Plan.org_id == org_id))}
    addons = {a.id: a for a in await session.scalars(select(AddOn).where(AddOn.org_id == org_id))}
    coupons = {
        c.id: c for c in await session.scalars(select(Coupon).where(Coupon.org_id == org_id))
    }
    items: dict[str, list[tuple[AddOn, int]]] = defaultdict(list)
    for row in await session.scalars(
        select(SubscriptionAddOn).where(SubscriptionAddOn.org_id == org_id)
    ):
        items[row.subscription_id].append((addons[row.addon_id], row.quantity))
    amounts: dict[str, int] = defaultdict(int)
    renewals: dict[str, int] = defaultdict(int)
    for sub in subs:
        coupon = coupons.get(sub.coupon_id or "")
        start = sub.current_period_end
        first = sub.status == "trialing"
        while start <= until:
            charges = pricing.period_charges(
                plan=plans[sub.plan_id],
                quantity=sub.quantity,
                addons=items[sub.id],
                coupon=coupon,
                discount_active=_discounted(sub, coupon, start, first),
            )
            amounts[sub.currency] += charges.net
            renewals[sub.currency] += 1
            start = pricing.next_period_end(
                anchor=sub.billing_anchor, current_end=start, interval=sub.interval
            )
            first = False
    return Forecast(
        days=days,
        data=[
            ForecastCurrency(currency=c, amount=amounts[c], renewals=renewals[c])
            for c in sorted(amounts)
        ],
    )
