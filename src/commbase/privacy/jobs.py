"""The hourly retention job: every registered kind, purged in committed batches."""

from __future__ import annotations

import structlog

from commbase.core.jobs import JobContext, job
from commbase.privacy import retention

log = structlog.get_logger("commbase.privacy.jobs")


@job("privacy.retention", schedule="5 * * * *", per_organization=True)
async def apply_retention(ctx: JobContext) -> int:
    """Delete what has outlived its retention period; returns how many rows went."""
    removed, failed = await retention.purge_all(ctx.database, now=ctx.now, org_id=ctx.org_id)
    log.info(
        "retention applied",
        run_id=ctx.run_id,
        org_id=ctx.org_id,
        removed=removed,
        failed=sorted(failed),
    )
    if failed:
        kinds = ", ".join(sorted(failed))
        raise RuntimeError(f"retention failed for: {kinds}") from next(iter(failed.values()))
    return sum(removed.values())
