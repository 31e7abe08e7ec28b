"""Dunning: what happens after a renewal charge to a saved payment method fails.

The subscription turns ``past_due`` and its plan's schedule decides the rest:
``dunning_retry_days`` (default 1, 3, 5) are days after the first failure at
which the ``billing.retry_payments`` job asks for the overdue invoice to be
charged again (``invoice.payment_retry_requested``, charged after commit by the
``billing.charge_invoice`` effect); once the last retry has failed, the plan's
``dunning_action`` cancels the subscription now (reason ``payment_failed``) or
pauses it. Any successful payment of its overdue invoices makes it ``active``
again and clears the schedule (``invoices.payments``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.catalog import service as catalog
from commbase.billing.invoices import events as invoice_events
from commbase.billing.invoices.enums import InvoiceStatus
from commbase.billing.invoices.models import Invoice
from commbase.billing.providers import events
from commbase.billing.providers.enums import DunningAction
from commbase.billing.subscriptions import events as subscription_events
from commbase.billing.subscriptions import lifecycle
from commbase.billing.subscriptions.enums import BILLED, SubscriptionStatus
from commbase.billing.subscriptions.models import Subscription
from commbase.billing.subscriptions.service import get_subscription
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.billing.dunning")
RETRY_BATCH = 500
FAILED_REASON = "payment_failed"


async def after_failure(session: AsyncSession, *, invoice: Invoice) -> None:
    """A dunning charge of ``invoice`` failed: past_due, then the next retry or the
    plan's final action."""
    if invoice.subscription_id is None:
        return
    subscription = await get_subscription(
        session, org_id=invoice.org_id, subscription_id=invoice.subscription_id, for_update=True
    )
    if subscription.status not in BILLED:
        return
    plan = await catalog.get_plan(session, org_id=subscription.org_id, plan_id=subscription.plan_id)
    days = list(plan.dunning_retry_days or [])
    now = utcnow()
    failures = subscription.payment_attempts + 1
    subscription.payment_attempts = failures
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription.status = SubscriptionStatus.PAST_DUE
    if failures <= len(days):
        previous = days[failures - 2] if failures >= 2 else 0
        subscription.next_payment_retry_at = now + timedelta(days=days[failures - 1] - previous)
        await session.flush()
        await outbox.record(
            session,
            subscription_events.SUBSCRIPTION_UPDATED,
            subscription_events.payload(subscription),
            org_id=subscription.org_id,
        )
        return
    subscription.next_payment_retry_at = None
    log.info("dunning_exhausted", subscription_id=subscription.id, action=plan.dunning_action)
    if plan.dunning_action == DunningAction.PAUSE:
        await lifecycle.pause(session, subscription=subscription)
    else:
        await lifecycle.cancel(
            session, subscription=subscription, at_period_end=False, reason=FAILED_REASON
        )


async def request_retries(database: Database, *, now: datetime, org_id: str | None = None) -> int:
    """Past-due subscriptions whose retry is due: each oldest open invoice is asked to
    be charged again (after commit); returns how many were asked."""
    statement = (
        select(Subscription.org_id, Subscription.id)
        .where(
            Subscription.next_payment_retry_at.is_not(None),
            Subscription.next_payment_retry_at <= now,
        )
        .order_by(Subscription.next_payment_retry_at)
        .limit(RETRY_BATCH)
    )
    if org_id is not None:
        statement = statement.where(Subscription.org_id == org_id)
    async with database.sessionmaker() as session:
        due = (await session.execute(statement)).all()
    asked = 0
    for sub_org, sub_id in due:
        async with database.sessionmaker() as session:
            subscription = await get_subscription(
                session, org_id=sub_org, subscription_id=sub_id, for_update=True
            )
            retry_at = subscription.next_payment_retry_at
            if retry_at is None or retry_at > now:
                continue  # another runner took it
            subscription.next_payment_retry_at = None
            invoice = await session.scalar(
                select(Invoice)
                .where(
                    Invoice.subscription_id == subscription.id,
                    Invoice.status == InvoiceStatus.OPEN,
                    Invoice.amount_due > 0,
                )
                .order_by(Invoice.created_at)
                .limit(1)
            )
            if invoice is not None and subscription.status == SubscriptionStatus.PAST_DUE:
                await outbox.record(
                    session,
                    events.INVOICE_PAYMENT_RETRY,
                    invoice_events.payload(invoice),
                    org_id=invoice.org_id,
                )
                asked += 1
            await session.commit()
    return asked
