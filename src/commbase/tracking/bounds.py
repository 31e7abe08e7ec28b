"""When a tracked thing may have happened: at most a day ahead, no older than kept.

Events are bounded by the organization's event retention (``events.py``);
pageviews and lab runs by its pageview retention, checked here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import invalid
from commbase.privacy import retention

PAGEVIEWS_KIND = "analytics_pageviews"  # the retention kind of pageviews, visits and lab runs
MAX_FUTURE = timedelta(days=1)  # clocks drift; a timestamp further ahead is a bug


async def checked_time(
    session: AsyncSession, *, org_id: str, moment: datetime | None, now: datetime
) -> datetime:
    """When a pageview or lab run happened: ``moment`` (default now), at most a day
    ahead and no older than the organization keeps pageviews (a 422 otherwise)."""
    if moment is None:
        return now
    if moment > now + MAX_FUTURE:
        raise invalid("The timestamp is more than a day in the future", "timestamp")
    days = await retention.days_for(session, org_id=org_id, kind=PAGEVIEWS_KIND)
    if moment < now - timedelta(days=days):
        raise invalid(
            f"The timestamp is older than the organization's retention of {days} days",
            "timestamp",
        )
    return moment
