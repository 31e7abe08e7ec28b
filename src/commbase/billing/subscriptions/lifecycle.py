"""A subscription over time: cancelled (now or at the period's end), paused, resumed,
and renewed period after period by the ``billing.renew_subscriptions`` job.

Renewals are safe to run any number of times, by any number of processes: each
subscription is renewed in its own transaction holding its row lock, re-read
once the lock is held, and its period invoice is unique on (subscription, period
start), so a second renewer finds nothing left to do or rolls back.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.catalog.enums import Interval
from commbase.billing.customers import service as customers_service
from commbase.billing.invoices.enums import BillingReason, InvoiceStatus
from commbase.billing.invoices.models import Invoice
from commbase.billing.subscriptions import events, pricing, terms, usage
from commbase.billing.subscriptions.enums import BILLED, LIVE, SubscriptionStatus
from commbase.billing.subscriptions.models import Subscription
from commbase.billing.subscriptions.service import get_subscription
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.errors import Conflict
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.billing.renewals")
RENEWAL_BATCH = 500


async def _announce(session: AsyncSession, event: str, subscription: Subscription) -> None:
    await outbox.record(session, event, events.payload(subscription), org_id=subscription.org_id)


async def _end(
    session: AsyncSession, *, subscription: Subscription, status: str, at: datetime
) -> None:
    current = await terms.load_terms(session, subscription=subscription)
    subscription.status = status
    subscription.ended_at = at
    await terms.sync_mrr(session, subscription=subscription, terms=current, at=at)
    await _announce(session, events.SUBSCRIPTION_CANCELLED, subscription)


async def cancel(
    session: AsyncSession, *, subscription: Subscription, at_period_end: bool, reason: str | None
) -> Subscription:
    """At the period's end (it keeps running and paying until then), or now (no refund
    of the unused time)."""
    if subscription.status not in (*LIVE, SubscriptionStatus.PAUSED):
        raise Conflict(f"A {subscription.status} subscription cannot be cancelled")
    now = utcnow()
    subscription.cancellation_reason = reason
    subscription.cancelled_at = now
    if at_period_end and subscription.status in LIVE:
        subscription.cancel_at_period_end = True
        await session.flush()
        await _announce(session, events.SUBSCRIPTION_UPDATED, subscription)
        return subscription
    await _end(session, subscription=subscription, status=SubscriptionStatus.CANCELLED, at=now)
    return subscription


async def pause(session: AsyncSession, *, subscription: Subscription) -> Subscription:
    """Stop billing (and counting MRR) until resumed; the unused time is not refunded."""
    if subscription.status not in BILLED:
        raise Conflict(f"Only an active subscription can pause, not a {subscription.status} one")
    current = await terms.load_terms(session, subscription=subscription)
    subscription.status = SubscriptionStatus.PAUSED
    subscription.paused_at = utcnow()
    await terms.sync_mrr(session, subscription=subscription, terms=current)
    await _announce(session, events.SUBSCRIPTION_PAUSED, subscription)
    return subscription


async def resume(session: AsyncSession, *, subscription: Subscription) -> Subscription:
    """Start a new period now, invoiced in full."""
    if subscription.status != SubscriptionStatus.PAUSED:
        raise Conflict(f"Only a paused subscription can resume, not a {subscription.status} one")
    now = utcnow()
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.paused_at = None
    subscription.billing_anchor = now
    subscription.current_period_start = now
    subscription.current_period_end = pricing.add_months(
        now, Interval(subscription.interval).months
    )
    await _start_period(session, subscription=subscription, at=now)
    await _announce(session, events.SUBSCRIPTION_UPDATED, subscription)
    return subscription


async def _start_period(
    session: AsyncSession,
    *,
    subscription: Subscription,
    at: datetime,
    ended: tuple[datetime, datetime] | None = None,
) -> None:
    """Invoice the new current period (and the usage of the billed period ``ended``),
    credit its minutes, write the MRR it brings."""
    if (
        subscription.discount_active
        and subscription.discount_ends_at is not None
        and subscription.current_period_start >= subscription.discount_ends_at
    ):
        subscription.discount_active = False  # a repeating coupon ran out
    current = await terms.load_terms(session, subscription=subscription)
    customer = await customers_service.get_customer(
        session, org_id=subscription.org_id, customer_id=subscription.customer_id
    )
    extra = (
        await usage.usage_lines(
            session, customer=customer, addons=current.addons, start=ended[0], end=ended[1]
        )
        if ended is not None
        else []
    )
    await terms.invoice_period(
        session,
        subscription=subscription,
        terms=current,
        customer=customer,
        reason=BillingReason.SUBSCRIPTION_CYCLE,
        extra=extra,
    )
    await terms.credit_included_minutes(
        session, subscription=subscription, terms=current, customer=customer
    )
    await terms.sync_mrr(session, subscription=subscription, terms=current, at=at)


async def renew(session: AsyncSession, *, subscription: Subscription, now: datetime) -> int:
    """Every period of ``subscription`` that ended by ``now``: a trial turns active, a
    cancellation at the period's end takes effect, otherwise a new period starts,
    invoiced. Returns the number of periods moved past."""
    moved = 0
    while subscription.status in LIVE and subscription.current_period_end <= now:
        end = subscription.current_period_end
        moved += 1
        if subscription.cancel_at_period_end:
            trialing = subscription.status == SubscriptionStatus.TRIALING
            status = SubscriptionStatus.EXPIRED if trialing else SubscriptionStatus.CANCELLED
            await _end(session, subscription=subscription, status=status, at=end)
            break
        # Usage is billed for a period that was paid for, not for a trial.
        ended = (
            (subscription.current_period_start, end)
            if subscription.status != SubscriptionStatus.TRIALING
            else None
        )
        subscription.status = (
            SubscriptionStatus.ACTIVE
            if subscription.status == SubscriptionStatus.TRIALING
            else subscription.status
        )
        subscription.current_period_start = end
        subscription.current_period_end = pricing.next_period_end(
            anchor=subscription.billing_anchor, current_end=end, interval=subscription.interval
        )
        await _start_period(session, subscription=subscription, at=end, ended=ended)
        await _announce(session, events.SUBSCRIPTION_RENEWED, subscription)
    return moved


async def mark_overdue(database: Database, *, now: datetime, org_id: str | None = None) -> int:
    """Active subscriptions with an open invoice past its due date become ``past_due``
    (still billed, still MRR); paying their overdue invoices makes them active again."""
    statement = (
        select(Subscription.org_id, Subscription.id)
        .join(Invoice, Invoice.subscription_id == Subscription.id)
        .where(
            Subscription.status == SubscriptionStatus.ACTIVE,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.due_at <= now,
        )
        .distinct()
        .limit(RENEWAL_BATCH)
    )
    if org_id is not None:
        statement = statement.where(Subscription.org_id == org_id)
    async with database.sessionmaker() as session:
        due = (await session.execute(statement)).all()
    marked = 0
    for sub_org, sub_id in due:
        async with database.sessionmaker() as session:
            subscription = await get_subscription(
                session, org_id=sub_org, subscription_id=sub_id, for_update=True
            )
            if subscription.status == SubscriptionStatus.ACTIVE:
                subscription.status = SubscriptionStatus.PAST_DUE
                await session.flush()
                await _announce(session, events.SUBSCRIPTION_UPDATED, subscription)
                marked += 1
            await session.commit()
    return marked


async def renew_due(database: Database, *, now: datetime, org_id: str | None = None) -> int:
    """Renew every subscription whose period ended by ``now``, each in its own
    transaction; returns how many periods were moved past."""
    statement = (
        select(Subscription.org_id, Subscription.id)
        .where(
            Subscription.status.in_(list(LIVE)),
            Subscription.current_period_end <= now,
        )
        .order_by(Subscription.current_period_end)
        .limit(RENEWAL_BATCH)
    )
    if org_id is not None:
        statement = statement.where(Subscription.org_id == org_id)
    async with database.sessionmaker() as session:
        due = (await session.execute(statement)).all()
    moved = 0
    for sub_org, sub_id in due:
        async with database.sessionmaker() as session:
            try:
                subscription = await get_subscription(
                    session, org_id=sub_org, subscription_id=sub_id, for_update=True
                )
                moved += await renew(session, subscription=subscription, now=now)
                await session.commit()
            except IntegrityError:
                # Another renewer wrote this period's invoice first.
                await session.rollback()
                log.info("renewal_raced", subscription_id=sub_id)
    return moved
