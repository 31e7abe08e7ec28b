"""What is happening now: calls in progress (per status and per agent) and live
visitors (distinct visitors with a pageview or event in the last five minutes).

Both are read from the facts themselves at the moment of the request, never from
rollups or the cache: "now" changes every second and each answer is one or two
indexed queries (``ix_calls_org_status``; ``ix_pageviews_org_occurred`` and
``ix_tracked_events_org_occurred``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.enums import ACTIVE_STATUSES, CallStatus
from commbase.calls.models import Call
from commbase.core.schemas import ReadSchema
from commbase.core.time import utcnow
from commbase.tracking.models import Pageview, TrackedEvent

LIVE_WINDOW = timedelta(minutes=5)  # Plausible's "current visitors"
MAX_LISTED_CALLS = 100
# An agent is the member a call belongs to (who placed it, or the member an inbound
# number rings); calls of no member (API keys, agent sessions) count under null.


class AgentCalls(ReadSchema):
    user_id: str | None = Field(description="The member; null for calls of no member")
    queued: int
    ringing: int
    in_progress: int
    total: int


class CallNow(ReadSchema):
    id: str
    status: str
    kind: str
    direction: str
    user_id: str | None
    created_at: datetime
    answered_at: datetime | None
    seconds: int = Field(description="Since placed, or since answered once in progress")


class CallsInProgressRead(ReadSchema):
    """Calls not ended yet: queued or initiated (``queued`` here), ringing, in progress."""

    as_of: datetime
    total: int
    queued: int
    ringing: int
    in_progress: int
    by_agent: list[AgentCalls] = Field(description="Most calls first")
    data: list[CallNow] = Field(description=f"The latest {MAX_LISTED_CALLS} calls, newest first")


class LiveVisitorsRead(ReadSchema):
    as_of: datetime
    window_seconds: int
    visitors: int = Field(description="Distinct visitors with a pageview or event in the window")


def _bucket(status: str) -> str:
    if status == CallStatus.RINGING:
        return "ringing"
    if status == CallStatus.IN_PROGRESS:
        return "in_progress"
    return "queued"


async def calls_in_progress(session: AsyncSession, *, org_id: str) -> CallsInProgressRead:
    now = utcnow()
    active = (Call.org_id == org_id, Call.status.in_(list(ACTIVE_STATUSES)))
    counted = (
        await session.execute(
            select(Call.user_id, Call.status, func.count())
            .where(*active)
            .group_by(Call.user_id, Call.status)
        )
    ).all()
    agents: dict[str | None, dict[str, int]] = defaultdict(
        lambda: {"queued": 0, "ringing": 0, "in_progress": 0}
    )
    for user_id, status, count in counted:
        agents[user_id][_bucket(status)] += int(count)
    by_agent = sorted(
        (AgentCalls(user_id=u, **c, total=sum(c.values())) for u, c in agents.items()),
        key=lambda a: (-a.total, a.user_id or ""),
    )
    rows = await session.scalars(
        select(Call).where(*active).order_by(Call.created_at.desc()).limit(MAX_LISTED_CALLS)
    )
    listed = [
        CallNow(
            id=c.id,
            status=c.status,
            kind=c.kind,
            direction=c.direction,
            user_id=c.user_id,
            created_at=c.created_at,
            answered_at=c.answered_at,
            seconds=max(0, int((now - (c.answered_at or c.created_at)).total_seconds())),
        )
        for c in rows
    ]
    return CallsInProgressRead(
        as_of=now,
        total=sum(a.total for a in by_agent),
        queued=sum(a.queued for a in by_agent),
        ringing=sum(a.ringing for a in by_agent),
        in_progress=sum(a.in_progress for a in by_agent),
        by_agent=by_agent,
        data=listed,
    )


async def live_visitors(session: AsyncSession, *, org_id: str) -> LiveVisitorsRead:
    now = utcnow()
    since = now - LIVE_WINDOW
    seen = union(
        select(Pageview.visitor_id.label("visitor")).where(
            Pageview.org_id == org_id, Pageview.occurred_at >= since, Pageview.occurred_at <= now
        ),
        select(TrackedEvent.visitor_id.label("visitor")).where(
            TrackedEvent.org_id == org_id,
            TrackedEvent.occurred_at >= since,
            TrackedEvent.occurred_at <= now,
            TrackedEvent.visitor_id.is_not(None),
        ),
    ).subquery()
    visitors = await session.scalar(select(func.count()).select_from(seen))
    return LiveVisitorsRead(
        as_of=now, window_seconds=int(LIVE_WINDOW.total_seconds()), visitors=int(visitors or 0)
    )
