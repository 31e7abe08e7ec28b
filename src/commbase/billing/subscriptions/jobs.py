"""Scheduled billing work: renewing subscriptions."""

from __future__ import annotations

from commbase.billing.subscriptions import lifecycle
from commbase.core.jobs import JobContext, job


@job("billing.renew_subscriptions", schedule="*/5 * * * *", per_organization=True)
async def renew_subscriptions(ctx: JobContext) -> int:
    """Renew subscriptions whose period ended: trials turn active, cancellations at the
    period's end take effect, new periods are invoiced (one invoice per period,
    however often this runs). Returns the periods moved past."""
    return await lifecycle.renew_due(ctx.database, now=ctx.now, org_id=ctx.org_id)
