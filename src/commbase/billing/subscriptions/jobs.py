"""Scheduled billing work: renewing subscriptions."""

from __future__ import annotations

from commbase.billing.subscriptions import lifecycle
from commbase.core.jobs import JobContext, job


@job("billing.renew_subscriptions", schedule="*/5 * * * *", per_organization=True)
async def renew_subscriptions(ctx: JobContext) -> int:
    """Renew subscriptions whose period ended: trials turn active, cancellations at the
    period's end take effect, new periods are invoiced (one invoice per period,
    however often this runs); subscriptions with an overdue open invoice turn
    ``past_due``. Returns the periods moved past plus the subscriptions marked."""
    moved = await lifecycle.renew_due(ctx.database, now=ctx.now, org_id=ctx.org_id)
    return moved + await lifecycle.mark_overdue(ctx.database, now=ctx.now, org_id=ctx.org_id)
