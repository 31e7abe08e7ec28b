"""Leads API (seed 004 ``leads``). Thin: parse, authorize, call the service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId, UtcDateTime
from commbase.engagement.leads import service
from commbase.engagement.leads.enums import FollowUpStatus, LeadPriority, LeadSource
from commbase.engagement.leads.models import Lead
from commbase.engagement.leads.schemas import LeadConvert, LeadCreate, LeadRead, LeadUpdate
from commbase.settings import Settings

router = APIRouter(prefix="/v1/leads", tags=["leads"])

FINAL: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"description": "The lead is converted or lost already"}
}


def _thresholds(settings: Settings) -> service.Thresholds:
    return service.Thresholds(hot=settings.lead_hot_score, warm=settings.lead_warm_score)


async def _lead(lead_id: str, principal: CurrentPrincipal, session: DbSession) -> Lead:
    return await service.get_lead(session, org_id=principal.org_id, lead_id=lead_id)


@router.post("", response_model=LeadRead, status_code=status.HTTP_201_CREATED)
async def create_lead(
    body: LeadCreate, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> Lead:
    """Record a lead; without a ``score`` the default rule scores it (see the README)."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await service.create_lead(
        session, org_id=principal.org_id, data=body, thresholds=_thresholds(settings)
    )


@router.get("", response_model=Page[LeadRead])
async def list_leads(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    priority: LeadPriority | None = None,
    follow_up_status: FollowUpStatus | None = None,
    source: LeadSource | None = None,
    converted: bool | None = None,
    contact_id: Annotated[str | None, Query(max_length=40)] = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    follow_up_before: Annotated[UtcDateTime | None, Query()] = None,
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_leads(
        session,
        org_id=principal.org_id,
        params=page,
        priority=priority,
        follow_up_status=follow_up_status,
        source=source,
        converted=converted,
        contact_id=contact_id,
        min_score=min_score,
        follow_up_before=follow_up_before,
    )
    return Page(data=[LeadRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{lead_id}", response_model=LeadRead)
async def get_lead(lead_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Lead:
    principal.require(Scope.ENGAGEMENT_READ)
    return await _lead(lead_id, principal, session)


@router.patch("/{lead_id}", response_model=LeadRead, responses=FINAL)
async def update_lead(
    lead_id: PathId,
    body: LeadUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Lead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    lead = await _lead(lead_id, principal, session)
    return await service.update_lead(
        session, lead=lead, changes=body, thresholds=_thresholds(settings)
    )


@router.post("/{lead_id}/convert", response_model=LeadRead, responses=FINAL)
async def convert_lead(
    lead_id: PathId, body: LeadConvert, principal: CurrentPrincipal, session: DbSession
) -> Lead:
    """The lead became a customer: converted, converted_at, and the deal's value."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    lead = await _lead(lead_id, principal, session)
    return await service.convert(session, lead=lead, data=body)
