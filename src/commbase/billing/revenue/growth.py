"""Seed 000's growth block in the snapshot's ``revenue`` section, from the registry's
MRR metrics in the organization's currency (organization-wide snapshots only):

* ``revenueGrowthRate`` = growth of MRR from the period's start to its end, in percent
  (``analytics.calculations.growth_rate``: (end - start) / start x 100, 2 decimals;
  from zero: +100 when MRR appeared, 0 when there still is none);
* ``retentionRate`` = customers paying at the start who did not churn in the period /
  customers paying at the start x 100 (= 100 - the customer churn rate of
  ``GET /v1/billing/retention``); 0 when nobody paid at the start (seed 001's rule
  for a zero denominator);
* ``expansionRevenue`` = expansion MRR in the period (``revenue.mrr_expansion``), minor
  units.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.calculations import growth_rate
from commbase.analytics.registry import register_derived
from commbase.analytics.schemas import ALL_TIME
from commbase.analytics.service import Analytics


async def growth(
    session: AsyncSession, org_id: str, start: datetime, end: datetime, tz: ZoneInfo
) -> dict[str, float]:
    analytics = Analytics(session, org_id)
    levels = ["revenue.mrr", "customers.paying"]
    before = await analytics.totals(levels, ALL_TIME, start, tz=tz) if start > ALL_TIME else {}
    after = await analytics.totals(["revenue.mrr"], ALL_TIME, end, tz=tz)
    moved = await analytics.totals(
        ["revenue.mrr_expansion", "customers.churned"], start, end, tz=tz
    )

    def total(values: dict[str, dict[str, float]], name: str) -> int:
        return int(values.get(name, {}).get("total", 0) or 0)

    paying = total(before, "customers.paying")
    churned = total(moved, "customers.churned")
    return {
        "revenueGrowthRate": growth_rate(total(after, "revenue.mrr"), total(before, "revenue.mrr")),
        "retentionRate": round(100 * (paying - churned) / paying, 2) if paying else 0.0,
        "expansionRevenue": total(moved, "revenue.mrr_expansion"),
    }


register_derived("revenue", growth)
