"""``/v1/analytics`` figures of the moment: calls in progress and live visitors
(:mod:`commbase.analytics.live_now`), read from the facts on every request."""

from __future__ import annotations

from fastapi import APIRouter

from commbase.analytics import live_now
from commbase.analytics.live_now import CallsInProgressRead, LiveVisitorsRead
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.scopes import Scope

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


@router.get(
    "/calls-in-progress",
    response_model=CallsInProgressRead,
    summary="Calls not ended yet: queued, ringing, in progress, per agent",
)
async def calls_in_progress(principal: CurrentPrincipal, session: DbSession) -> CallsInProgressRead:
    """Counts by status and by agent (the member a call belongs to; null for calls
    placed by API keys or agent sessions), and the latest 100 such calls."""
    principal.require(Scope.ANALYTICS_READ)
    return await live_now.calls_in_progress(session, org_id=principal.org_id)


@router.get(
    "/live-visitors",
    response_model=LiveVisitorsRead,
    summary="Visitors on the site now: distinct visitors of the last 5 minutes",
)
async def live_visitors(principal: CurrentPrincipal, session: DbSession) -> LiveVisitorsRead:
    """Distinct visitor ids with a pageview or a tracked event in the last 5 minutes
    (Plausible's current visitors)."""
    principal.require(Scope.ANALYTICS_READ)
    return await live_now.live_visitors(session, org_id=principal.org_id)
