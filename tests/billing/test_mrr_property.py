"""Property: for random subscription histories, MRR on every day (read through the
analytics registry from the MRR movements) equals a direct recomputation from the
subscriptions as they stand that day, per currency, and each day's movements (new,
expansion, contraction, churn, reactivation) add up to that day's change in MRR.

Histories mix monthly and yearly plans, flat and per-seat, add-ons, coupons (percent and
amount; once, repeating, forever), trials, plan and quantity changes, pauses, resumes,
cancellations now and at the period's end, in USD and EUR; the renewal job runs at
every day's end. The oracle below shares no code with billing: it prices each
subscription from its rows and the catalog it created.
"""

from __future__ import annotations

import calendar
import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commbase.analytics.enums import Interval
from commbase.analytics.schemas import ALL_TIME
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.billing.catalog import service as catalog
from commbase.billing.catalog.schemas import AddOnCreate, CouponCreate, PlanCreate
from commbase.billing.customers.models import Customer
from commbase.billing.subscriptions import lifecycle
from commbase.billing.subscriptions import service as subscriptions
from commbase.billing.subscriptions.models import Subscription, SubscriptionAddOn
from commbase.billing.subscriptions.schemas import (
    AddOnItem,
    SubscriptionCreate,
    SubscriptionUpdate,
)
from commbase.core.db import Database
from commbase.core.errors import CommbaseError
from commbase.core.time import FrozenClock, use_clock, utcnow
from commbase.identity.models import Organization
from tests.billing.recurring import billing_app  # noqa: F401  (the module's app)

BASE = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 75
_orgs = itertools.count(1)

# code, interval, amount, currency, pricing, trial days
PLANS = [
    ("basic", "month", 3000, "USD", "flat", 0),
    ("seat", "month", 1000, "USD", "per_seat", 0),
    ("annual", "year", 24_000, "USD", "flat", 0),
    ("euro", "month", 2500, "EUR", "per_seat", 0),
    ("trial", "month", 5000, "USD", "flat", 7),
]
# code, interval, amount, currency, pricing
ADDONS = [
    ("seats", "month", 500, "USD", "per_unit"),
    ("archive", "year", 6000, "USD", "flat"),
    ("eu", "month", 300, "EUR", "flat"),
]
COUPONS: list[dict[str, Any]] = [
    {"code": "P20", "percent_off": 20, "duration": "forever"},
    {
        "code": "A10",
        "amount_off": 1000,
        "currency": "USD",
        "duration": "repeating",
        "duration_months": 2,
    },
    {"code": "HALF", "percent_off": 50, "duration": "once"},
    {"code": "P10", "percent_off": 10, "duration": "repeating", "duration_months": 1},
]
ACTIONS = [
    "create",
    "create",
    "plan",
    "quantity",
    "addons",
    "coupon",
    "pause",
    "resume",
    "cancel_now",
    "cancel_end",
]


@dataclass(frozen=True)
class Op:
    day: int
    action: str
    a: int
    b: int
    c: int


ops_strategy = st.lists(
    st.builds(
        Op,
        day=st.integers(0, DAYS - 20),
        action=st.sampled_from(ACTIONS),
        a=st.integers(0, 7),
        b=st.integers(0, 7),
        c=st.integers(1, 4),
    ),
    min_size=1,
    max_size=16,
)


@dataclass
class Catalog:
    org_id: str
    plans: dict[str, tuple[str, str, int, str, str, int]]  # id -> PLANS row
    addons: dict[str, tuple[str, str, int, str, str]]
    coupons: dict[str, dict[str, Any]]
    plan_ids: list[str]
    addon_ids: list[str]
    coupon_ids: list[str]
    customers: list[str]


async def _setup(database: Database) -> Catalog:
    number = next(_orgs)
    async with database.sessionmaker() as session:
        org = Organization(name=f"MRR {number}", slug=f"mrr-prop-{number}", currency="USD")
        session.add(org)
        await session.flush()
        plans, addons, coupons = {}, {}, {}
        for row in PLANS:
            code, interval, amount, currency, pricing, trial = row
            plan = await catalog.create_plan(
                session,
                org_id=org.id,
                data=PlanCreate(
                    code=code,
                    name=code,
                    interval=interval,
                    amount=amount,
                    currency=currency,
                    pricing=pricing,
                    trial_days=trial,
                ),
            )
            plans[plan.id] = row
        for addon_row in ADDONS:
            code, interval, amount, currency, pricing = addon_row
            addon = await catalog.create_addon(
                session,
                org_id=org.id,
                data=AddOnCreate(
                    code=code,
                    name=code,
                    interval=interval,
                    amount=amount,
                    currency=currency,
                    pricing=pricing,
                ),
            )
            addons[addon.id] = addon_row
        for spec in COUPONS:
            coupon = await catalog.create_coupon(
                session, org_id=org.id, data=CouponCreate(name=spec["code"], **spec)
            )
            coupons[coupon.id] = spec
        customers = []
        for n in range(3):
            customer = Customer(org_id=org.id, kind="contact", reference_id=f"cnt_{n}", address={})
            session.add(customer)
            await session.flush()
            customers.append(customer.id)
        await session.commit()
    return Catalog(
        org.id, plans, addons, coupons, list(plans), list(addons), list(coupons), customers
    )


def _addon_items(cat: Catalog, plan_id: str, bits: int, quantity: int) -> list[AddOnItem]:
    _, interval, _, currency, _, _ = cat.plans[plan_id]
    return [
        AddOnItem(addon_id=addon_id, quantity=quantity)
        for index, addon_id in enumerate(cat.addon_ids)
        if bits >> index & 1
        and cat.addons[addon_id][1] == interval
        and cat.addons[addon_id][3] == currency
    ]


async def _apply(
    database: Database, cat: Catalog, op: Op, subs: list[str], attached: dict[str, datetime]
) -> None:
    """Apply one operation; ``attached`` keeps when each subscription got its coupon."""
    async with database.sessionmaker() as session:
        try:
            if op.action == "create":
                plan_id = cat.plan_ids[op.b % len(cat.plan_ids)]
                flat = cat.plans[plan_id][4] == "flat"
                coupon = op.a + op.c
                created = await subscriptions.create_subscription(
                    session,
                    org_id=cat.org_id,
                    data=SubscriptionCreate(
                        customer_id=cat.customers[op.a % 3],
                        plan_id=plan_id,
                        quantity=1 if flat else op.c,
                        addons=_addon_items(cat, plan_id, op.a, op.c),
                        coupon_id=cat.coupon_ids[coupon % 4] if coupon % 5 < 4 else None,
                    ),
                )
                subs.append(created.id)
                await session.commit()
                attached[created.id] = created.created_at
                return
            if not subs:
                return
            sub = await subscriptions.get_subscription(
                session,
                org_id=cat.org_id,
                subscription_id=subs[op.a % len(subs)],
                for_update=True,
            )
            if op.action == "plan":
                changes = SubscriptionUpdate(plan_id=cat.plan_ids[op.b % len(cat.plan_ids)])
                await subscriptions.update_subscription(session, subscription=sub, changes=changes)
            elif op.action == "quantity":
                changes = SubscriptionUpdate(quantity=op.c)
                await subscriptions.update_subscription(session, subscription=sub, changes=changes)
            elif op.action == "addons":
                items = _addon_items(cat, sub.plan_id, op.b, op.c)
                changes = SubscriptionUpdate(addons=items)
                await subscriptions.update_subscription(session, subscription=sub, changes=changes)
            elif op.action == "coupon":
                coupon_id = cat.coupon_ids[op.b % 4] if op.b % 5 < 4 else None
                before = sub.coupon_id
                changes = SubscriptionUpdate(coupon_id=coupon_id)
                await subscriptions.update_subscription(session, subscription=sub, changes=changes)
                await session.commit()
                if coupon_id != before:
                    attached[sub.id] = utcnow()
                return
            elif op.action == "pause":
                await lifecycle.pause(session, subscription=sub)
            elif op.action == "resume":
                await lifecycle.resume(session, subscription=sub)
            else:
                await lifecycle.cancel(
                    session, subscription=sub, at_period_end=op.action == "cancel_end", reason=None
                )
            await session.commit()
        except CommbaseError:
            await session.rollback()  # refused (a 409 or 422 to a client): nothing changed


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    return moment.replace(
        year=year, month=month + 1, day=min(moment.day, calendar.monthrange(year, month + 1)[1])
    )


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def _mrr(
    cat: Catalog, sub: Subscription, items: list[SubscriptionAddOn], coupon_from: datetime | None
) -> int:
    """The oracle: a subscription's MRR from its row and the catalog, by the definition."""
    if sub.status not in ("active", "past_due"):
        return 0
    _, interval, amount, _, pricing, _ = cat.plans[sub.plan_id]
    gross = amount * (sub.quantity if pricing == "per_seat" else 1)
    for item in items:
        _, _, addon_amount, _, addon_pricing = cat.addons[item.addon_id]
        gross += addon_amount * (item.quantity if addon_pricing == "per_unit" else 1)
    discount = 0
    spec = cat.coupons.get(sub.coupon_id or "")
    recurring = spec is not None and (
        spec["duration"] == "forever"
        or (
            spec["duration"] == "repeating"
            and coupon_from is not None
            # it discounts the periods that start before it runs out
            and sub.current_period_start < _add_months(coupon_from, spec["duration_months"])
        )
    )
    if spec is not None and recurring:
        if spec.get("percent_off"):
            discount = _half_up(gross * spec["percent_off"], 100)
        else:
            discount = min(spec["amount_off"], gross)
    months = 12 if interval == "year" else 1
    return _half_up(gross - discount, months)


async def _expected_today(
    database: Database, cat: Catalog, attached: dict[str, datetime]
) -> dict[str, int]:
    async with database.sessionmaker() as session:
        subs = (
            await session.scalars(select(Subscription).where(Subscription.org_id == cat.org_id))
        ).all()
        items = (
            await session.scalars(
                select(SubscriptionAddOn).where(SubscriptionAddOn.org_id == cat.org_id)
            )
        ).all()
    by_sub: dict[str, list[SubscriptionAddOn]] = defaultdict(list)
    for item in items:
        by_sub[item.subscription_id].append(item)
    totals: dict[str, int] = defaultdict(int)
    for sub in subs:
        totals[sub.currency] += _mrr(cat, sub, by_sub[sub.id], attached.get(sub.id))
    return dict(totals)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=ops_strategy)
async def test_daily_mrr_equals_a_recomputation_and_movements_add_up(
    billing_app: FastAPI,  # noqa: F811
    ops: list[Op],
) -> None:
    database: Database = billing_app.state.db
    clock = FrozenClock(BASE)
    expected: list[dict[str, int]] = []
    subs: list[str] = []
    attached: dict[str, datetime] = {}
    with use_clock(clock):
        cat = await _setup(database)
        todo = sorted(ops, key=lambda op: op.day)
        for day in range(DAYS):
            clock.set(BASE + timedelta(days=day, hours=12))
            for op in [op for op in todo if op.day == day]:
                await _apply(database, cat, op, subs, attached)
            clock.set(BASE + timedelta(days=day + 1) - timedelta(seconds=1))
            await lifecycle.renew_due(database, now=clock.now(), org_id=cat.org_id)
            expected.append(await _expected_today(database, cat, attached))

        kinds = ("mrr.new", "mrr.expansion", "mrr.contraction", "mrr.churn", "mrr.reactivation")
        end = BASE + timedelta(days=DAYS)
        async with database.sessionmaker() as session:
            analytics = Analytics(session, cat.org_id)
            result = await analytics.series(
                SeriesSpec(
                    ("mrr.change", *kinds),
                    Interval.DAY,
                    BASE,
                    end,
                    ZoneInfo("UTC"),
                    group_by="currency",
                    compare=False,
                )
            )
            totals = await analytics.totals(
                ["revenue.mrr", "revenue.arr"], ALL_TIME, end, tz=ZoneInfo("UTC")
            )
    per_day: dict[tuple[str, str], list[float]] = {}
    for entry in result["series"]:
        per_day[(entry["metric"], entry["group"])] = [p["value"] for p in entry["points"]]
    for currency in ("USD", "EUR"):
        changes = per_day.get(("mrr.change", currency), [0] * DAYS)
        running, previous = 0, 0
        for day in range(DAYS):
            running += int(changes[day])
            want = expected[day].get(currency, 0)
            assert running == want, (currency, day, running, want)
            moved = sum(int(per_day.get((k, currency), [0] * DAYS)[day]) for k in kinds)
            assert moved == want - previous, (currency, day)
            previous = want
        for kind, sign in (
            ("mrr.churn", -1),
            ("mrr.contraction", -1),
            ("mrr.new", 1),
            ("mrr.expansion", 1),
            ("mrr.reactivation", 1),
        ):
            assert all(v * sign >= 0 for v in per_day.get((kind, currency), [])), kind
    assert totals["revenue.mrr"]["total"] == expected[-1].get("USD", 0)
    assert totals["revenue.arr"]["total"] == 12 * expected[-1].get("USD", 0)
