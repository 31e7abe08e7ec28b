"""A subscription's terms (plan, add-ons, coupon), checked against the catalog, and
what follows from them: a period's invoice, its MRR, the included minutes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service as billing_service
from commbase.billing.catalog import service as catalog_service
from commbase.billing.catalog.enums import PlanPricing
from commbase.billing.catalog.models import AddOn, Coupon, Plan
from commbase.billing.customers.enums import CustomerKind
from commbase.billing.customers.models import Customer
from commbase.billing.enums import LedgerCategory, LedgerType, OwnerType
from commbase.billing.invoices import service as invoices
from commbase.billing.invoices.models import Invoice
from commbase.billing.models import Wallet
from commbase.billing.revenue import service as revenue
from commbase.billing.subscriptions import pricing
from commbase.billing.subscriptions.models import Subscription, SubscriptionAddOn
from commbase.billing.subscriptions.schemas import AddOnItem
from commbase.core.errors import NotFound, invalid
from commbase.core.time import utcnow


@dataclass(frozen=True)
class Terms:
    plan: Plan
    addons: tuple[tuple[AddOn, int], ...]
    coupon: Coupon | None

    def charges(self, subscription: Subscription) -> pricing.PeriodCharges:
        return pricing.period_charges(
            plan=self.plan,
            quantity=subscription.quantity,
            addons=self.addons,
            coupon=self.coupon,
            discount_active=subscription.discount_active,
        )

    def mrr(self, subscription: Subscription) -> int:
        return pricing.mrr(
            status=subscription.status,
            interval=subscription.interval,
            charges=self.charges(subscription),
        )


async def load_terms(session: AsyncSession, *, subscription: Subscription) -> Terms:
    plan = await catalog_service.get_plan(
        session, org_id=subscription.org_id, plan_id=subscription.plan_id
    )
    rows = (
        await session.execute(
            select(AddOn, SubscriptionAddOn.quantity)
            .join(SubscriptionAddOn, SubscriptionAddOn.addon_id == AddOn.id)
            .where(SubscriptionAddOn.subscription_id == subscription.id)
        )
    ).all()
    coupon = None
    if subscription.coupon_id is not None:
        coupon = await catalog_service.get_coupon(
            session, org_id=subscription.org_id, coupon_id=subscription.coupon_id
        )
    return Terms(plan, tuple((row[0], row[1]) for row in rows), coupon)


async def check_plan(session: AsyncSession, *, org_id: str, plan_id: str, quantity: int) -> Plan:
    try:
        plan = await catalog_service.get_plan(session, org_id=org_id, plan_id=plan_id)
    except NotFound as exc:
        raise invalid("No such plan", "plan_id") from exc
    if plan.archived_at is not None:
        raise invalid("This plan is archived", "plan_id")
    if plan.pricing == PlanPricing.FLAT and quantity != 1:
        raise invalid("A flat plan has quantity 1; per-seat plans take seats", "quantity")
    return plan


async def check_addons(
    session: AsyncSession, *, plan: Plan, items: Sequence[AddOnItem], current: Sequence[str] = ()
) -> tuple[tuple[AddOn, int], ...]:
    """The add-ons, each live (or already on the subscription), in the plan's currency
    and interval, with the add-ons and plan features it requires."""
    ids = [item.addon_id for item in items]
    if len(set(ids)) != len(ids):
        raise invalid("An add-on is listed twice", "addons")
    found = await catalog_service.addons_by_id(session, org_id=plan.org_id, addon_ids=ids)
    chosen: list[tuple[AddOn, int]] = []
    for index, item in enumerate(items):
        addon = found.get(item.addon_id)
        field = f"addons.{index}.addon_id"
        if addon is None:
            raise invalid("No such add-on", field)
        if addon.archived_at is not None and addon.id not in current:
            raise invalid("This add-on is archived", field)
        if (addon.currency, addon.interval) != (plan.currency, plan.interval):
            raise invalid(
                f"Add-on {addon.code} is billed per {addon.interval} in {addon.currency}; "
                f"the plan per {plan.interval} in {plan.currency}",
                field,
            )
        chosen.append((addon, item.quantity))
    codes = {addon.code for addon, _ in chosen}
    for index, (addon, _) in enumerate(chosen):
        missing = [code for code in addon.requires_addons if code not in codes]
        missing += [f"feature {f}" for f in addon.requires_features if f not in plan.features]
        if missing:
            raise invalid(
                f"Add-on {addon.code} requires {', '.join(missing)}",
                f"addons.{index}.addon_id",
                requires=missing,
            )
    return tuple(chosen)


async def check_coupon(
    session: AsyncSession, *, org_id: str, coupon_id: str, currency: str
) -> Coupon:
    try:
        coupon = await catalog_service.get_coupon(session, org_id=org_id, coupon_id=coupon_id)
    except NotFound as exc:
        raise invalid("No such coupon", "coupon_id") from exc
    if coupon.archived_at is not None:
        raise invalid("This coupon is archived", "coupon_id")
    if coupon.currency is not None and coupon.currency != currency:
        raise invalid(f"This coupon takes {coupon.currency} off, not {currency}", "coupon_id")
    return coupon


async def set_addons(
    session: AsyncSession, *, subscription: Subscription, addons: Sequence[tuple[AddOn, int]]
) -> None:
    existing = {
        row.addon_id: row
        for row in await session.scalars(
            select(SubscriptionAddOn).where(SubscriptionAddOn.subscription_id == subscription.id)
        )
    }
    wanted = {addon.id: quantity for addon, quantity in addons}
    for addon_id, row in existing.items():
        if addon_id not in wanted:
            await session.delete(row)
    for addon_id, quantity in wanted.items():
        if addon_id in existing:
            existing[addon_id].quantity = quantity
        else:
            session.add(
                SubscriptionAddOn(
                    org_id=subscription.org_id,
                    subscription_id=subscription.id,
                    addon_id=addon_id,
                    quantity=quantity,
                )
            )
    await session.flush()


async def sync_mrr(
    session: AsyncSession,
    *,
    subscription: Subscription,
    terms: Terms,
    at: datetime | None = None,
) -> None:
    """Write the MRR movement for whatever just changed (none if MRR did not move),
    dated ``at`` (default now)."""
    await revenue.record_mrr(
        session, subscription=subscription, new_mrr=terms.mrr(subscription), at=at or utcnow()
    )


async def invoice_period(
    session: AsyncSession,
    *,
    subscription: Subscription,
    terms: Terms,
    customer: Customer,
    reason: str,
    extra: Sequence[invoices.LineSpec] = (),
) -> Invoice:
    """The current period's invoice (with ``extra`` lines: usage of the period that
    ended), finalized, the customer's credit taken off it; a "once" coupon is then spent."""
    charges = terms.charges(subscription)
    start, end = subscription.current_period_start, subscription.current_period_end
    lines = [
        invoices.LineSpec(
            kind=c.kind,
            description=c.description,
            unit_amount=c.unit_amount,
            quantity=c.quantity,
            plan_id=c.plan_id,
            addon_id=c.addon_id,
            period_start=start,
            period_end=end,
        )
        for c in charges.charges
    ]
    lines += extra
    invoice = await invoices.create_invoice(
        session,
        customer=customer,
        currency=subscription.currency,
        lines=lines,
        reason=reason,
        subscription_id=subscription.id,
        period=(start, end),
        discount=charges.discount,
        coupon_id=subscription.coupon_id if charges.discount else None,
    )
    await invoices.finalize(session, invoice=invoice, credit=subscription.credit_balance)
    subscription.credit_balance -= invoice.credit_applied
    if terms.coupon is not None and terms.coupon.duration == "once" and charges.discount:
        subscription.discount_active = False
    await session.flush()
    return invoice


async def _customer_wallet(
    session: AsyncSession, *, customer: Customer, currency: str
) -> Wallet | None:
    """Where the customer's minutes go: a customer organization's own wallet, or a
    member's wallet with the seller; contacts hold no wallet."""
    if customer.kind == CustomerKind.CONTACT:
        return None
    org_id, owner_type = customer.org_id, OwnerType.USER
    if customer.kind == CustomerKind.ORGANIZATION:
        org_id, owner_type = customer.reference_id, OwnerType.ORGANIZATION
    wallet = await billing_service.find_wallet(
        session, org_id=org_id, owner_type=owner_type, owner_id=customer.reference_id
    )
    if wallet is None and customer.kind == CustomerKind.ORGANIZATION:
        wallet = await billing_service.create_wallet(
            session,
            org_id=org_id,
            owner_type=owner_type,
            owner_id=customer.reference_id,
            currency=currency,
        )
    return wallet


async def credit_included_minutes(
    session: AsyncSession, *, subscription: Subscription, terms: Terms, customer: Customer
) -> None:
    """The plan's minutes (x seats for per-seat plans) for the current period, once."""
    plan = terms.plan
    seats = subscription.quantity if plan.pricing == PlanPricing.PER_SEAT else 1
    minutes = plan.included_minutes * seats
    if minutes <= 0:
        return
    wallet = await _customer_wallet(session, customer=customer, currency=subscription.currency)
    if wallet is None:
        return
    start = subscription.current_period_start
    await billing_service.credit(
        session,
        wallet=wallet,
        amount=0,
        minutes=minutes,
        posting=billing_service.Posting(
            type=LedgerType.CREDIT,
            category=LedgerCategory.INCLUDED_MINUTES,
            idempotency_key=f"included:{subscription.id}:{start.isoformat()}",
            plan=plan.code,
            description=f"{plan.name}: minutes from {start:%Y-%m-%d}",
            details={"subscription_id": subscription.id},
        ),
    )
