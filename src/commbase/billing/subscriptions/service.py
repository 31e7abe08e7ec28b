"""Subscriptions: created, changed (prorated), read. Cancelling, pausing, resuming and
renewing are in ``lifecycle.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.catalog.enums import CouponDuration, Interval, PlanPricing
from commbase.billing.catalog.models import Plan
from commbase.billing.customers import service as customers_service
from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.billing.invoices import service as invoices
from commbase.billing.invoices.enums import BillingReason, LineKind
from commbase.billing.licenses.models import License
from commbase.billing.subscriptions import events, pricing, terms
from commbase.billing.subscriptions.enums import BILLED, ENDED, LIVE, SubscriptionStatus
from commbase.billing.subscriptions.models import Subscription, SubscriptionAddOn
from commbase.billing.subscriptions.schemas import (
    AddOnItem,
    AddOnItemRead,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
)
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow


async def _customer(session: AsyncSession, *, org_id: str, customer_id: str) -> Customer:
    try:
        return await customers_service.get_customer(session, org_id=org_id, customer_id=customer_id)
    except NotFound as exc:
        raise invalid("No such customer", "customer_id") from exc


async def create_subscription(
    session: AsyncSession, *, org_id: str, data: SubscriptionCreate
) -> Subscription:
    """Start now: a trial (no invoice, no MRR) or a paid first period (invoiced)."""
    customer = await _customer(session, org_id=org_id, customer_id=data.customer_id)
    plan = await terms.check_plan(
        session, org_id=org_id, plan_id=data.plan_id, quantity=data.quantity
    )
    addons = await terms.check_addons(session, plan=plan, items=data.addons)
    coupon = None
    if data.coupon_id is not None:
        coupon = await terms.check_coupon(
            session, org_id=org_id, coupon_id=data.coupon_id, currency=plan.currency
        )
    now = utcnow()
    trial_days = plan.trial_days if data.trial_days is None else data.trial_days
    trial_end = now + timedelta(days=trial_days) if trial_days else None
    subscription = Subscription(
        org_id=org_id,
        customer_id=customer.id,
        plan_id=plan.id,
        quantity=data.quantity,
        status=SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.ACTIVE,
        currency=plan.currency,
        interval=plan.interval,
        coupon_id=coupon.id if coupon else None,
        discount_active=coupon is not None,
        discount_ends_at=(
            pricing.add_months(now, coupon.duration_months or 0)
            if coupon is not None and coupon.duration == CouponDuration.REPEATING
            else None
        ),
        trial_end=trial_end,
        billing_anchor=trial_end or now,
        current_period_start=now,
        current_period_end=trial_end or pricing.add_months(now, Interval(plan.interval).months),
        credit_balance=0,
        mrr=0,
    )
    session.add(subscription)
    await session.flush()
    await terms.set_addons(session, subscription=subscription, addons=addons)
    current = terms.Terms(plan, addons, coupon)
    if subscription.status == SubscriptionStatus.ACTIVE:
        await terms.invoice_period(
            session,
            subscription=subscription,
            terms=current,
            customer=customer,
            reason=BillingReason.SUBSCRIPTION_CREATE,
        )
    await terms.credit_included_minutes(
        session, subscription=subscription, terms=current, customer=customer
    )
    await terms.sync_mrr(session, subscription=subscription, terms=current)
    await outbox.record(
        session, events.SUBSCRIPTION_CREATED, events.payload(subscription), org_id=org_id
    )
    return subscription


async def get_subscription(
    session: AsyncSession, *, org_id: str, subscription_id: str, for_update: bool = False
) -> Subscription:
    statement = select(Subscription).where(
        Subscription.org_id == org_id, Subscription.id == subscription_id
    )
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    subscription = await session.scalar(statement)
    if subscription is None:
        raise NotFound("Subscription not found")
    return subscription


async def list_subscriptions(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    customer_id: str | None = None,
    status: str | None = None,
) -> tuple[Sequence[Subscription], str | None]:
    statement = select(Subscription).where(Subscription.org_id == org_id)
    if customer_id:
        statement = statement.where(Subscription.customer_id == customer_id)
    if status:
        statement = statement.where(Subscription.status == status)
    return await paginate(session, statement, id_column=Subscription.id, params=params)


async def read(
    session: AsyncSession, subscriptions: Sequence[Subscription]
) -> list[SubscriptionRead]:
    """The API's view: each subscription with its add-ons."""
    ids = [s.id for s in subscriptions]
    items: dict[str, list[AddOnItemRead]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            select(SubscriptionAddOn)
            .where(SubscriptionAddOn.subscription_id.in_(ids))
            .order_by(SubscriptionAddOn.id)
        )
        for row in rows:
            items[row.subscription_id].append(
                AddOnItemRead(addon_id=row.addon_id, quantity=row.quantity)
            )
    return [
        SubscriptionRead.model_validate({**_columns(s), "addons": items[s.id]})
        for s in subscriptions
    ]


ACCOUNT_TYPE_FEATURE = "account_type:"


async def account_type_for(session: AsyncSession, *, org_id: str, seller_org_id: str) -> str | None:
    """The account type named by the plan of a live subscription that ``seller_org_id``
    sells to the organization ``org_id`` (its customer of kind ``organization``): the
    plan feature ``account_type:<type>``. Only the seller's subscriptions count: any
    organization can bill another that consents, but not give it an account type. With
    several, the most recently created that names one decides; ``None`` when none does."""
    features = await session.scalars(
        select(Plan.features)
        .join(Subscription, Subscription.plan_id == Plan.id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            Subscription.org_id == seller_org_id,
            Customer.kind == CustomerKind.ORGANIZATION,
            Customer.reference_id == org_id,
            Subscription.status.in_(LIVE),
        )
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
    )
    for names in features:
        for name in names or []:
            if isinstance(name, str) and name.startswith(ACCOUNT_TYPE_FEATURE):
                return name.removeprefix(ACCOUNT_TYPE_FEATURE)
    return None


def _columns(subscription: Subscription) -> dict[str, object]:
    return {c.key: getattr(subscription, c.key) for c in Subscription.__table__.columns}


async def update_subscription(
    session: AsyncSession, *, subscription: Subscription, changes: SubscriptionUpdate
) -> Subscription:
    """Change plan, seats, add-ons or coupon at once, prorated; or withdraw/ask for a
    cancellation at the period's end."""
    if subscription.status in ENDED:
        raise Conflict(f"A {subscription.status} subscription cannot change")
    values = changes.model_dump(exclude_unset=True)
    before = await terms.load_terms(session, subscription=subscription)
    old_net = before.charges(subscription).net
    plan = before.plan
    quantity = values.get("quantity", subscription.quantity)
    if values.get("plan_id", plan.id) != plan.id:
        plan = await terms.check_plan(
            session, org_id=subscription.org_id, plan_id=values["plan_id"], quantity=quantity
        )
        if (plan.currency, plan.interval) != (subscription.currency, subscription.interval):
            raise invalid(
                "A new plan must have the same currency and interval; start a new "
                "subscription to change them",
                "plan_id",
            )
    elif plan.pricing == PlanPricing.FLAT and quantity != 1:
        raise invalid("A flat plan has quantity 1; per-seat plans take seats", "quantity")
    assigned = await session.scalar(
        select(func.count()).where(
            License.subscription_id == subscription.id, License.unassigned_at.is_(None)
        )
    )
    if quantity < (assigned or 0):
        raise Conflict(
            f"{assigned} seats are assigned: unassign licenses before going down to {quantity}",
            assigned=assigned,
        )
    addons = before.addons
    if "addons" in changes.model_fields_set or plan is not before.plan:
        items = changes.addons
        if items is None:
            items = [AddOnItem(addon_id=a.id, quantity=q) for a, q in before.addons]
        addons = await terms.check_addons(
            session, plan=plan, items=items, current=[a.id for a, _ in before.addons]
        )
    coupon = before.coupon
    if "coupon_id" in values and values["coupon_id"] != subscription.coupon_id:
        coupon = None
        subscription.coupon_id = None
        subscription.discount_active = False
        subscription.discount_ends_at = None
        if values["coupon_id"] is not None:
            coupon = await terms.check_coupon(
                session,
                org_id=subscription.org_id,
                coupon_id=values["coupon_id"],
                currency=subscription.currency,
            )
            subscription.coupon_id = coupon.id
            subscription.discount_active = True
            if coupon.duration == CouponDuration.REPEATING:
                subscription.discount_ends_at = pricing.add_months(
                    utcnow(), coupon.duration_months or 0
                )
    if "cancel_at_period_end" in values:
        subscription.cancel_at_period_end = values["cancel_at_period_end"]
        if not subscription.cancel_at_period_end:
            subscription.cancellation_reason = None
            subscription.cancelled_at = None
    subscription.plan_id = plan.id
    subscription.quantity = quantity
    await terms.set_addons(session, subscription=subscription, addons=addons)
    after = terms.Terms(plan, addons, coupon)
    await _prorate(session, subscription=subscription, old_net=old_net, after=after)
    await terms.sync_mrr(session, subscription=subscription, terms=after)
    await outbox.record(
        session,
        events.SUBSCRIPTION_UPDATED,
        events.payload(subscription),
        org_id=subscription.org_id,
    )
    return subscription


async def _prorate(
    session: AsyncSession, *, subscription: Subscription, old_net: int, after: terms.Terms
) -> None:
    """Charge (at once) or credit (on later invoices) the change for the rest of the
    period; trials and paused subscriptions pay nothing, so prorate nothing."""
    if subscription.status not in BILLED:
        return
    now = utcnow()
    amount = pricing.prorate(
        delta=after.charges(subscription).net - old_net,
        now=now,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
    )
    if amount < 0:
        subscription.credit_balance += -amount
        await session.flush()
        return
    if amount == 0:
        return
    customer = await customers_service.get_customer(
        session, org_id=subscription.org_id, customer_id=subscription.customer_id
    )
    invoice = await invoices.create_invoice(
        session,
        customer=customer,
        currency=subscription.currency,
        lines=[
            invoices.LineSpec(
                kind=LineKind.PRORATION,
                description=f"Change to {after.plan.name} for the rest of the period",
                unit_amount=amount,
                period_start=now,
                period_end=subscription.current_period_end,
                plan_id=after.plan.id,
            )
        ],
        reason=BillingReason.SUBSCRIPTION_UPDATE,
        subscription_id=subscription.id,
        period=(now, subscription.current_period_end),
    )
    await invoices.finalize(session, invoice=invoice, credit=subscription.credit_balance)
    subscription.credit_balance -= invoice.credit_applied
    await session.flush()
