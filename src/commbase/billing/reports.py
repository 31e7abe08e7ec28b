"""Revenue per day for a month (the seed's Monthly Revenue Report)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.enums import LedgerStatus, LedgerType
from commbase.billing.models import LedgerEntry
from commbase.billing.schemas import RevenueDay, RevenueReport
from commbase.core.errors import invalid
from commbase.core.time import utcnow
from commbase.identity import service as identity_service

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where ``YYYY-MM`` starts and ends in time zone ``tz``; a 422
    for anything else, or for a month at the calendar's edges (``0000-12``, ``9999-12``)."""
    match = _MONTH.match(month)
    try:
        if match is None:
            raise ValueError(month)
        year, mon = int(match[1]), int(match[2])
        start = datetime(year, mon, 1, tzinfo=tz)
        end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid(
            "month must be a month like 2026-02 between 0001-02 and 9999-11",
            "month",
            location="query",
        ) from exc


async def revenue_by_day(
    session: AsyncSession, *, org_id: str, month: str | None, currency: str | None = None
) -> RevenueReport:
    """Completed credits (top-ups) of the month (default: this month) grouped by the
    organization's local day: total, count, average. Amounts in several currencies
    are never added up: choose one with ``currency`` (a 422 otherwise)."""
    org = await identity_service.get_organization(session, org_id=org_id)
    tz = ZoneInfo(org.timezone)
    month = month or utcnow().astimezone(tz).strftime("%Y-%m")
    start, end = month_bounds(month, tz)
    statement = select(LedgerEntry.amount, LedgerEntry.created_at, LedgerEntry.currency).where(
        LedgerEntry.org_id == org_id,
        LedgerEntry.type == LedgerType.CREDIT,
        LedgerEntry.status == LedgerStatus.COMPLETED,
        LedgerEntry.created_at >= start,
        LedgerEntry.created_at < end,
    )
    if currency is not None:
        statement = statement.where(LedgerEntry.currency == currency)
    rows = (await session.execute(statement)).all()
    currencies = {row.currency for row in rows}
    if len(currencies) > 1:
        raise invalid(
            f"This month has top-ups in {', '.join(sorted(currencies))}; choose one with "
            "?currency=",
            "currency",
            location="query",
        )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for amount, created_at, _ in rows:
        day = created_at.astimezone(tz).date().isoformat()
        totals[day][0] += amount
        totals[day][1] += 1
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
        timezone=org.timezone,
        currency=currencies.pop() if currencies else currency,
        total_revenue=sum(d.total_revenue for d in days),
        transaction_count=sum(d.transaction_count for d in days),
        days=days,
    )
