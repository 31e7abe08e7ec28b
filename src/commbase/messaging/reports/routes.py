"""Messaging reports API (``analytics:read``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.errors import invalid
from commbase.core.scopes import Scope
from commbase.core.types import UtcDateTime
from commbase.messaging.reports import service
from commbase.messaging.reports.schemas import MessagingReport, ReportGroup

router = APIRouter(prefix="/v1/reports", tags=["messaging"])
MAX_DAYS = 366


@router.get("/messaging", response_model=MessagingReport)
async def messaging_report(
    principal: CurrentPrincipal,
    session: DbSession,
    start: Annotated[UtcDateTime, Query(alias="from", description="Start (aware)")],
    end: Annotated[UtcDateTime, Query(alias="to", description="End, excluded (aware)")],
    group_by: ReportGroup = ReportGroup.ACCOUNT,
    business_hours: Annotated[
        bool,
        Query(
            description="Count first response and resolution time only within the channel "
            "account's business hours (the organization's time zone)"
        ),
    ] = False,
) -> MessagingReport:
    """Conversations, incoming and outgoing messages, first response time, resolutions
    and resolution time per channel account, agent (assignee) or label."""
    principal.require(Scope.ANALYTICS_READ)
    if end <= start:
        raise invalid("to must be after from", "to", location="query")
    if (end - start).days > MAX_DAYS:
        raise invalid(f"a report spans at most {MAX_DAYS} days", "to", location="query")
    rows = await service.messaging_report(
        session,
        org_id=principal.org_id,
        group=group_by,
        start=start,
        end=end,
        business_hours_only=business_hours,
    )
    return MessagingReport(
        group_by=group_by, start=start.isoformat(), end=end.isoformat(), data=rows
    )
