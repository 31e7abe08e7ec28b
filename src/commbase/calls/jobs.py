"""Scheduled calls work: transcripts past their retention period, and the personal
data of calls whose agent session's ``data_retention`` consent has run out."""

from __future__ import annotations

from commbase.calls import retention
from commbase.calls.transcripts import service as transcripts
from commbase.calls.video import sweeper as _video_sweeper  # noqa: F401  (registers its job)
from commbase.core.jobs import JobContext, job


@job("calls.expire_transcripts", schedule="15 * * * *")
async def expire_transcripts(ctx: JobContext) -> int:
    """Delete transcripts past their expiry, with their search index entries."""
    removed = 0
    while True:
        # One transaction per batch: SQLite's single writer is never held for long.
        async with ctx.database.sessionmaker() as session:
            batch = await transcripts.delete_expired(session, now=ctx.now)
            await session.commit()
        removed += batch
        if batch < transcripts.EXPIRY_BATCH:
            return removed


@job("calls.expire_personal_data", schedule="*/5 * * * *", per_organization=True)
async def expire_personal_data(ctx: JobContext) -> int:
    """Erase the numbers, notes and transcripts of ended calls whose agent session's
    data_retention consent has run out (session ended, or 30 days after the call)."""
    erased = 0
    while True:
        async with ctx.database.sessionmaker() as session:
            batch = await retention.erase_due(session, now=ctx.now, org_id=ctx.org_id)
            await session.commit()
        erased += batch
        if batch < retention.BATCH:
            return erased
