"""What the revenue is made of, for a period, in the organization's currency
(``GET /v1/billing/revenue-breakdown``):

* **plans** (plan distribution, now): per plan, the paying subscriptions, those
  trialing, and the MRR they bring (``billing_subscriptions.mrr``: what the MRR
  movements last wrote);
* **add-ons** (over the period, from finalized invoices: open, paid or
  uncollectible): per add-on, the subscriptions invoiced for it, its adoption
  (those / every subscription invoiced for a plan in the period x 100) and its
  revenue (the add-on lines' amounts, before discounts and tax);
* **invoices** by status (issued in the period): paid, open and, among the open,
  overdue (due date passed now), each with a count and an amount (totals; open
  and overdue: what is still due); paid and open are the registry's
  ``invoices.paid``/``invoices.open``/``invoices.billed``-family metrics;
* **trials** (registry: ``subscriptions.trials_started``, ``trials_converted``,
  ``trial_conversion``): trials started in the period, those that became paying,
  and the share.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.service import Analytics
from commbase.billing.catalog.models import AddOn, Plan
from commbase.billing.invoices.enums import InvoiceStatus, LineKind
from commbase.billing.invoices.models import Invoice, InvoiceLine
from commbase.billing.revenue.retention import check_range
from commbase.billing.revenue.schemas import (
    AddOnShare,
    Breakdown,
    InvoicesByStatus,
    InvoiceStatusFigure,
    PlanShare,
    TrialConversion,
)
from commbase.billing.subscriptions.enums import SubscriptionStatus
from commbase.billing.subscriptions.models import Subscription
from commbase.core.time import utcnow
from commbase.identity import service as identity_service

FINAL = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


async def _plans(session: AsyncSession, *, org_id: str, currency: str) -> list[PlanShare]:
    paying = Subscription.mrr > 0
    trialing = Subscription.status == SubscriptionStatus.TRIALING
    rows = (
        await session.execute(
            select(
                Plan.id,
                Plan.code,
                Plan.name,
                func.sum(case((paying, 1), else_=0)),
                func.sum(case((trialing, 1), else_=0)),
                func.coalesce(func.sum(Subscription.mrr), 0),
            )
            .join(Subscription, Subscription.plan_id == Plan.id)
            .where(
                Plan.org_id == org_id,
                Subscription.org_id == org_id,
                Subscription.currency == currency,
                paying | trialing,
            )
            .group_by(Plan.id, Plan.code, Plan.name)
            .order_by(Plan.code)
        )
    ).all()
    return [
        PlanShare(
            plan_id=plan_id,
            code=code,
            name=name,
            paying_subscriptions=int(paid),
            trialing_subscriptions=int(trials),
            mrr=int(mrr),
        )
        for plan_id, code, name, paid, trials, mrr in rows
    ]


def _invoiced(
    org_id: str, currency: str, start: datetime, end: datetime
) -> list[ColumnElement[bool]]:
    return [
        Invoice.org_id == org_id,
        Invoice.currency == currency,
        Invoice.status.in_(list(FINAL)),
        Invoice.created_at >= start,
        Invoice.created_at < end,
    ]


async def _addons(
    session: AsyncSession, *, org_id: str, currency: str, start: datetime, end: datetime
) -> list[AddOnShare]:
    invoiced = _invoiced(org_id, currency, start, end)
    with_plan = await session.scalar(
        select(func.count(func.distinct(Invoice.subscription_id)))
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(*invoiced, InvoiceLine.kind == LineKind.PLAN)
    )
    rows = (
        await session.execute(
            select(
                AddOn.id,
                AddOn.code,
                AddOn.name,
                func.count(func.distinct(Invoice.subscription_id)),
                func.sum(InvoiceLine.amount),
            )
            .join(InvoiceLine, InvoiceLine.addon_id == AddOn.id)
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .where(AddOn.org_id == org_id, *invoiced)
            .group_by(AddOn.id, AddOn.code, AddOn.name)
            .order_by(AddOn.code)
        )
    ).all()
    whole = int(with_plan or 0)
    return [
        AddOnShare(
            addon_id=addon_id,
            code=code,
            name=name,
            subscriptions=int(subs),
            adoption_rate=round(100 * int(subs) / whole, 2) if whole else 0.0,
            revenue=int(revenue),
        )
        for addon_id, code, name, subs, revenue in rows
    ]


async def _invoices(
    session: AsyncSession, *, org_id: str, currency: str, start: datetime, end: datetime
) -> InvoicesByStatus:
    invoiced = _invoiced(org_id, currency, start, end)
    overdue = and_(Invoice.status == InvoiceStatus.OPEN, Invoice.due_at < utcnow())
    row = (
        await session.execute(
            select(
                func.sum(case((Invoice.status == InvoiceStatus.PAID, 1), else_=0)),
                func.sum(case((Invoice.status == InvoiceStatus.PAID, Invoice.total), else_=0)),
                func.sum(case((Invoice.status == InvoiceStatus.OPEN, 1), else_=0)),
                func.sum(case((Invoice.status == InvoiceStatus.OPEN, Invoice.amount_due), else_=0)),
                func.sum(case((overdue, 1), else_=0)),
                func.sum(case((overdue, Invoice.amount_due), else_=0)),
            ).where(*invoiced)
        )
    ).one()
    values = [int(v or 0) for v in row]
    return InvoicesByStatus(
        paid=InvoiceStatusFigure(count=values[0], amount=values[1]),
        open=InvoiceStatusFigure(count=values[2], amount=values[3]),
        overdue=InvoiceStatusFigure(count=values[4], amount=values[5]),
    )


async def _trials(
    analytics: Analytics, start: datetime, end: datetime, tz: ZoneInfo
) -> TrialConversion:
    names = [
        "subscriptions.trials_started",
        "subscriptions.trials_converted",
        "subscriptions.trial_conversion",
    ]
    totals = await analytics.totals(names, start, end, tz=tz)
    return TrialConversion(
        started=int(totals[names[0]]["total"]),
        converted=int(totals[names[1]]["total"]),
        conversion_rate=float(totals[names[2]]["total"] or 0),
    )


async def breakdown(
    session: AsyncSession, *, org_id: str, start: datetime, end: datetime
) -> Breakdown:
    check_range(start, end)
    org = await identity_service.get_organization(session, org_id=org_id)
    tz = ZoneInfo(org.timezone)
    currency = org.currency
    return Breakdown(
        currency=currency,
        plans=await _plans(session, org_id=org_id, currency=currency),
        addons=await _addons(session, org_id=org_id, currency=currency, start=start, end=end),
        invoices=await _invoices(session, org_id=org_id, currency=currency, start=start, end=end),
        trials=await _trials(Analytics(session, org_id), start, end, tz),
    )
