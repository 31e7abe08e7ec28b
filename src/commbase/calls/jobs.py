"""Scheduled calls work: delete transcripts past their retention period."""

from __future__ import annotations

from commbase.calls.transcripts import service as transcripts
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
