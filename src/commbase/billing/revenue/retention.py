"""Retention over a period, in the organization's currency, from the registry's MRR
metrics: MRR at the start and the end, the movements between, customer and revenue
churn rates, net revenue retention and ARPA.

* customer churn rate = customers churned / customers paying at the start x 100
* revenue churn rate = churned MRR / MRR at the start x 100
* net revenue retention = (MRR at the start + expansion + contraction - churned) /
  MRR at the start x 100 (the usual approximation: movements of customers new in the
  period count too)
* ARPA = MRR at the end / customers paying at the end
* LTV = ARPA / customer churn rate (as a fraction) = MRR at the end / customers
  paying at the end x customers paying at the start / customers churned, rounded to
  the minor unit; null when no customer churned (or none paid). The churn rate is the
  period's: ask for one month to get the usual monthly LTV.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.schemas import ALL_TIME
from commbase.analytics.service import Analytics
from commbase.billing.revenue.schemas import Retention
from commbase.core.errors import invalid
from commbase.identity import service as identity_service

# MRR is read from the beginning (2000) up to a moment: keep that moment where the
# analytics engine's comparison period still falls within the calendar.
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MOVES = (
    "revenue.mrr_new",
    "revenue.mrr_expansion",
    "revenue.mrr_contraction",
    "revenue.mrr_churn",
    "revenue.mrr_reactivation",
    "customers.churned",
)
LEVELS = ("revenue.mrr", "customers.paying")


def _rate(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _ltv(mrr_end: int, paying_end: int, paying_start: int, churned: int) -> int | None:
    """ARPA / customer churn rate (see the module's formula)."""
    if not (paying_end and paying_start and churned):
        return None
    return round(mrr_end * paying_start / (paying_end * churned))


def check_range(start: datetime, end: datetime) -> None:
    """A period the analytics engine can read (422 otherwise)."""
    if end <= start:
        raise invalid("to must be after from", "to", location="query")
    if start < ALL_TIME or end > LATEST:
        raise invalid(
            f"from and to must lie between {ALL_TIME:%Y-%m-%d} and {LATEST:%Y-%m-%d}",
            "from" if start < ALL_TIME else "to",
            location="query",
        )


async def retention(
    session: AsyncSession, *, org_id: str, start: datetime, end: datetime
) -> Retention:
    check_range(start, end)
    org = await identity_service.get_organization(session, org_id=org_id)
    tz = ZoneInfo(org.timezone)
    analytics = Analytics(session, org_id)
    before = (
        await analytics.totals(list(LEVELS), ALL_TIME, start, tz=tz) if start > ALL_TIME else {}
    )
    after = await analytics.totals(list(LEVELS), ALL_TIME, end, tz=tz)
    moved = await analytics.totals(list(MOVES), start, end, tz=tz)

    def level(values: dict[str, dict[str, float]], name: str) -> int:
        return int(values.get(name, {}).get("total", 0))

    def move(name: str) -> int:
        return int(moved[name]["total"])

    mrr_start, mrr_end = level(before, "revenue.mrr"), level(after, "revenue.mrr")
    paying_start, paying_end = level(before, "customers.paying"), level(after, "customers.paying")
    churned = move("revenue.mrr_churn")
    kept = mrr_start + move("revenue.mrr_expansion") + move("revenue.mrr_contraction") - churned
    return Retention(
        currency=org.currency,
        mrr_start=mrr_start,
        mrr_end=mrr_end,
        new=move("revenue.mrr_new"),
        expansion=move("revenue.mrr_expansion"),
        contraction=move("revenue.mrr_contraction"),
        churn=-churned,
        reactivation=move("revenue.mrr_reactivation"),
        customers_start=paying_start,
        customers_end=paying_end,
        customers_churned=move("customers.churned"),
        customer_churn_rate=_rate(move("customers.churned"), paying_start),
        revenue_churn_rate=_rate(churned, mrr_start),
        net_revenue_retention=_rate(kept, mrr_start),
        arpa=round(mrr_end / paying_end) if paying_end else None,
        ltv=_ltv(mrr_end, paying_end, paying_start, move("customers.churned")),
    )
