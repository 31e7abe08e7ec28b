"""A license's usage, read from the metric registry (seed 000's License analytics):
the holder's calls while the seat was theirs, never stored counters that drift.

Over the assignment (``assigned_at`` until unassigned or now), the calls the user
placed in the holder organization: ``total_calls`` (``calls.total``),
``total_duration`` in seconds (``calls.duration``), ``average_duration``
(``calls.duration_avg``: talk time / calls with a duration) and ``success_rate``
(``calls.success_rate``: completed / placed x 100); ``calls_this_period`` counts the
same calls within the subscription's current period (seed 000's monthlyCallsUsed).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.periods import zone
from commbase.analytics.service import Analytics
from commbase.billing.licenses.models import License
from commbase.billing.licenses.schemas import LicenseUsage
from commbase.billing.subscriptions.models import Subscription
from commbase.core.time import utcnow
from commbase.identity import service as identity_service

METRICS = ("calls.total", "calls.duration", "calls.duration_avg", "calls.success_rate")


async def license_usage(
    session: AsyncSession, *, license_: License, subscription: Subscription
) -> LicenseUsage:
    holder = await identity_service.get_organization(session, org_id=license_.holder_org_id)
    tz = zone(holder.timezone)
    now = utcnow()
    # Ranges end past now by a microsecond: a call placed this instant counts.
    until = license_.unassigned_at or now + timedelta(microseconds=1)
    analytics = Analytics(session, license_.holder_org_id)
    by_user = ("user", license_.user_id)
    whole = await analytics.totals(list(METRICS), license_.assigned_at, until, tz=tz, where=by_user)
    since = max(license_.assigned_at, subscription.current_period_start)
    period: float = 0
    if since < until:
        in_period = await analytics.totals(["calls.total"], since, until, tz=tz, where=by_user)
        period = in_period["calls.total"]["total"]

    def value(name: str) -> float:
        return float(whole[name]["total"] or 0)

    return LicenseUsage(
        license_id=license_.id,
        user_id=license_.user_id,
        since=license_.assigned_at,
        until=license_.unassigned_at,
        period_start=subscription.current_period_start,
        total_calls=int(value("calls.total")),
        total_duration=int(value("calls.duration")),
        calls_this_period=int(period),
        average_duration=round(value("calls.duration_avg"), 2),
        success_rate=round(value("calls.success_rate"), 2),
    )
