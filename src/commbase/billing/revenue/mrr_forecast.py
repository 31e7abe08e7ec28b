"""MRR forecast: where MRR goes if it keeps moving as it did lately.

Method (a straight-line extrapolation, stated in the answer's ``method``):

* MRR at a moment is the running total of the MRR movements up to it (in each
  currency; never added across currencies);
* the trailing net new MRR is MRR now minus MRR ``trailing_months`` months ago
  (new + expansion + reactivation - contraction - churn over that window), and
  its monthly rate is that difference / ``trailing_months``;
* month ``k`` of the forecast (``k`` = 1..``months``) is MRR now + ``k`` x the
  monthly rate, rounded half up (away from zero on a half) to a minor unit, and never
  below zero. The arithmetic is exact (integer minor units and fractions; no float).

A month is 30 days here, for the history and the forecast alike. Seasonality, plan
changes not made yet and renewals that will fail are not modelled: for invoices
due, see ``GET /v1/billing/forecast``.
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.revenue.models import MrrMovement
from commbase.billing.revenue.schemas import MrrForecast, MrrForecastCurrency, MrrPoint
from commbase.core.time import utcnow

MONTH = timedelta(days=30)
METHOD = (
    "linear: MRR now + k x (MRR now - MRR trailing_months x 30 days ago) / trailing_months "
    "for month k (30 days), never below 0; MRR is the running total of MRR movements, "
    "per currency"
)


async def mrr_forecast(
    session: AsyncSession, *, org_id: str, months: int, trailing_months: int
) -> MrrForecast:
    now = utcnow()
    # History points: trailing_months x 30 days ago ... now.
    moments = [now - MONTH * k for k in range(trailing_months, 0, -1)] + [now]
    sums = [
        func.sum(case((MrrMovement.occurred_at <= moment, MrrMovement.amount), else_=0))
        for moment in moments
    ]
    rows = (
        await session.execute(
            select(MrrMovement.currency, *sums)
            .where(MrrMovement.org_id == org_id, MrrMovement.occurred_at <= now)
            .group_by(MrrMovement.currency)
            .order_by(MrrMovement.currency)
        )
    ).all()
    data = []
    for currency, *levels in rows:
        history = [int(level or 0) for level in levels]
        current, start = history[-1], history[0]
        if current == 0 and start == 0:
            continue
        monthly = Fraction(current - start, trailing_months)
        data.append(
            MrrForecastCurrency(
                currency=currency,
                mrr=current,
                trailing_net_new_mrr=current - start,
                monthly_net_new_mrr=_half_up(monthly),
                history=[MrrPoint(at=m, mrr=v) for m, v in zip(moments, history, strict=True)],
                forecast=[
                    MrrPoint(at=now + MONTH * k, mrr=max(0, _half_up(current + k * monthly)))
                    for k in range(1, months + 1)
                ],
            )
        )
    return MrrForecast(
        as_of=now, months=months, trailing_months=trailing_months, method=METHOD, data=data
    )


def _half_up(value: Fraction) -> int:
    """``value`` rounded to a whole minor unit, a half away from zero (2.5 -> 3,
    -2.5 -> -3; Python's ``round`` would give 2 and -2)."""
    whole, rest = divmod(abs(value.numerator), value.denominator)
    if 2 * rest >= value.denominator:
        whole += 1
    return whole if value >= 0 else -whole
