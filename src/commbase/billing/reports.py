"""Revenue per day for a month (the seed's Monthly Revenue Report)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.models import LedgerEntry
from commbase.billing.schemas import RevenueDay, RevenueReport


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where ``YYYY-MM`` starts and ends in time zone ``tz``."""
    year, mon = (int(part) for part in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def revenue_by_day(
    session: AsyncSession, *, org_id: str, month: str, timezone: str
) -> RevenueReport:
    """Completed credits (top-ups) of the month grouped by local day: total, count, average."""
    tz = ZoneInfo(timezone)
    start, end = month_bounds(month, tz)
    rows = await session.execute(
        select(LedgerEntry.amount, LedgerEntry.created_at, LedgerEntry.currency).where(
            LedgerEntry.org_id == org_id,
            LedgerEntry.type == "credit",
            LedgerEntry.status == "completed",
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < end,
        )
    )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    currencies: set[str] = set()
    for amount, created_at, currency in rows.all():
        day = created_at.astimezone(tz).date().isoformat()
        totals[day][0] += amount
        totals[day][1] += 1
        currencies.add(currency)
    days = [
        RevenueDay(
            date=day,
            total_revenue=total,
            transaction_count=count,
            avg_transaction=round(total / count) if count else 0,
        )
        for day, (total, count) in sorted(totals.items())
    ]
    return RevenueReport(
        month=month,
        timezone=timezone,
        currency=currencies.pop() if len(currencies) == 1 else None,
        total_revenue=sum(d.total_revenue for d in days),
        transaction_count=sum(d.transaction_count for d in days),
        days=days,
    )
