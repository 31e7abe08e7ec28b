"""Tracking's public face for other domains: what they ask of stored events.

Other domains use tracking through this module only (``from commbase.tracking
import service as tracking_service``): analytics snapshots ask which channel
accounts events name, and a call's privacy mode erases the events about it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.tracking import event_ids
from commbase.tracking.metrics import TRACKED_EVENTS
from commbase.tracking.models import TrackedEvent


async def active_accounts(
    session: AsyncSession, *, org_id: str, start: datetime, end: datetime
) -> list[str]:
    """The channel accounts the organization's events name in [start, end), sorted."""
    rows = await session.scalars(
        select(TrackedEvent.account_id)
        .where(
            TrackedEvent.org_id == org_id,
            TrackedEvent.occurred_at >= start,
            TrackedEvent.occurred_at < end,
            TrackedEvent.account_id.is_not(None),
            TrackedEvent.account_id != "",
        )
        .distinct()
    )
    return sorted(account for account in rows if account)


async def erase_events_for_call(session: AsyncSession, *, org_id: str, call_id: str) -> int:
    """Delete the organization's events about a call -- its ``call_id`` reference, or
    ``data.call_id`` -- and stop counting them in analytics; returns how many."""
    about_call = (TrackedEvent.org_id == org_id) & (
        (TrackedEvent.call_id == call_id) | (TrackedEvent.data["call_id"].as_string() == call_id)
    )
    found = (
        await session.execute(
            select(
                TrackedEvent.seq,
                TrackedEvent.org_id,
                TrackedEvent.event_id,
                TrackedEvent.occurred_at,
            ).where(about_call)
        )
    ).all()
    if not found:
        return 0
    await touches.touch(
        session, org_id=org_id, source=TRACKED_EVENTS, times=[row.occurred_at for row in found]
    )
    await session.execute(
        delete(TrackedEvent).where(TrackedEvent.seq.in_([row.seq for row in found]))
    )
    # Their ids go too: a replay of one stores the event again, as a new one.
    await event_ids.forget(session, [(row.org_id, row.event_id) for row in found])
    return len(found)
