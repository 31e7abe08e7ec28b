"""Marking the hours of deleted facts, so rollups stop counting them.

::

    await touches.touch(session, org_id=call.org_id, source=CALLS, times=[call.created_at])
    await session.delete(call)

Until the next fold, queries read touched hours from the raw facts; the fold
recomputes them and drops the touches it has seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.models import Touch
from commbase.analytics.registry import Source
from commbase.analytics.sql import hour_number
from commbase.core.time import utcnow


async def touch(
    session: AsyncSession, *, org_id: str, source: Source, times: Iterable[datetime | None]
) -> None:
    """Record that facts of ``source`` at ``times`` are being deleted (same transaction)."""
    now = utcnow()
    for hour in sorted({hour_number(moment) for moment in times if moment is not None}):
        session.add(Touch(org_id=org_id, source=source.watermark_key, hour=hour, touched_at=now))
    await session.flush()
