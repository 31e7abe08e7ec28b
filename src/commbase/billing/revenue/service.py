"""MRR movements, written in the transaction that changes a subscription's MRR.

Each movement is classified at the customer's level, per currency (as ChartMogul
does): *new* when the customer never had MRR in that currency, *reactivation*
when they had and are back from zero, *churn* when their MRR falls to zero,
*expansion*/*contraction* otherwise. ``active_delta`` counts paying subscriptions
(+1 when one starts paying, -1 when it stops).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.revenue.enums import MovementKind
from commbase.billing.revenue.models import MrrMovement
from commbase.billing.revenue.schemas import CurrencyMrr, MrrNow
from commbase.billing.subscriptions.models import Subscription
from commbase.core.pagination import PageParams, paginate
from commbase.identity import service as identity_service


async def _customer_mrr(session: AsyncSession, *, subscription: Subscription) -> int:
    """The customer's MRR in the subscription's currency from its other subscriptions."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Subscription.mrr), 0)).where(
            Subscription.org_id == subscription.org_id,
            Subscription.customer_id == subscription.customer_id,
            Subscription.currency == subscription.currency,
            Subscription.id != subscription.id,
        )
    )
    return int(total or 0)


async def _had_mrr(session: AsyncSession, *, subscription: Subscription) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    MrrMovement.org_id == subscription.org_id,
                    MrrMovement.customer_id == subscription.customer_id,
                    MrrMovement.currency == subscription.currency,
                )
            )
        )
    )


async def _kind(session: AsyncSession, *, subscription: Subscription, new_mrr: int) -> str:
    old = subscription.mrr
    others = await _customer_mrr(session, subscription=subscription)
    before, after = others + old, others + new_mrr
    if before == 0:
        had = await _had_mrr(session, subscription=subscription)
        return MovementKind.REACTIVATION if had else MovementKind.NEW
    if after == 0:
        return MovementKind.CHURN
    return MovementKind.EXPANSION if after > before else MovementKind.CONTRACTION


async def record_mrr(
    session: AsyncSession, *, subscription: Subscription, new_mrr: int, at: datetime
) -> MrrMovement | None:
    """Set the subscription's MRR to ``new_mrr`` and write the movement (none if equal).

    ``at`` is when the change took effect (a renewal job running late still dates a
    trial's end at the trial's end).
    """
    old = subscription.mrr
    if new_mrr == old:
        return None
    kind = await _kind(session, subscription=subscription, new_mrr=new_mrr)
    org = await identity_service.get_organization(session, org_id=subscription.org_id)
    movement = MrrMovement(
        org_id=subscription.org_id,
        subscription_id=subscription.id,
        customer_id=subscription.customer_id,
        plan_id=subscription.plan_id,
        kind=kind,
        currency=subscription.currency,
        amount=new_mrr - old,
        mrr_before=old,
        mrr_after=new_mrr,
        active_delta=1 if old == 0 else -1 if new_mrr == 0 else 0,
        org_currency=subscription.currency == org.currency,
        occurred_at=at,
    )
    session.add(movement)
    subscription.mrr = new_mrr
    await session.flush()
    return movement


async def mrr_now(session: AsyncSession, *, org_id: str) -> MrrNow:
    """Each currency's MRR from the subscriptions as they stand (the movements' running
    total, read the other way round)."""
    rows = (
        await session.execute(
            select(Subscription.currency, func.sum(Subscription.mrr), func.count())
            .where(Subscription.org_id == org_id, Subscription.mrr > 0)
            .group_by(Subscription.currency)
            .order_by(Subscription.currency)
        )
    ).all()
    return MrrNow(
        data=[
            CurrencyMrr(
                currency=currency, mrr=int(mrr), arr=12 * int(mrr), paying_subscriptions=count
            )
            for currency, mrr, count in rows
        ]
    )


async def list_movements(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    subscription_id: str | None = None,
    kind: str | None = None,
) -> tuple[Sequence[MrrMovement], str | None]:
    statement = select(MrrMovement).where(MrrMovement.org_id == org_id)
    if subscription_id:
        statement = statement.where(MrrMovement.subscription_id == subscription_id)
    if kind:
        statement = statement.where(MrrMovement.kind == kind)
    return await paginate(session, statement, id_column=MrrMovement.id, params=params)
