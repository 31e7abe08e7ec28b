"""Scheduled support work: announce service-level breaches."""

from __future__ import annotations

from commbase.core.jobs import JobContext, job
from commbase.engagement.support import sla


@job("support.sla_breaches", schedule="*/5 * * * *", per_organization=True)
async def sla_breaches(ctx: JobContext) -> int:
    """Record ``ticket.sla_breached`` for tickets past a first-response or resolution
    target (each target once per ticket)."""
    total = 0
    while True:
        async with ctx.database.sessionmaker() as session:
            found = await sla.record_breaches(session, now=ctx.now, org_id=ctx.org_id)
            await session.commit()
        total += found
        if found == 0:  # every ticket a batch reads gets marked, so this ends
            return total
