"""Scheduled lead work: announcing follow-ups that are due."""

from __future__ import annotations

from commbase.core.jobs import JobContext, job
from commbase.engagement.leads import follow_ups


@job("engagement.lead_follow_ups", schedule="*/5 * * * *", per_organization=True)
async def lead_follow_ups(ctx: JobContext) -> int:
    """Record ``lead.follow_up_due`` once for every open lead whose follow-up date has come."""
    announced = 0
    while True:
        async with ctx.database.sessionmaker() as session:
            batch = await follow_ups.announce_due(session, now=ctx.now, org_id=ctx.org_id)
            await session.commit()
        announced += batch
        if batch < follow_ups.BATCH:
            return announced
