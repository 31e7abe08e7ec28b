"""Campaigns API: reading needs ``messages:read``; creating and controlling a campaign
needs ``messages:write``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.messaging.campaigns import service, stats
from commbase.messaging.campaigns.enums import CampaignStatus, RecipientStatus
from commbase.messaging.campaigns.models import Campaign
from commbase.messaging.campaigns.schemas import (
    CampaignCreate,
    CampaignRead,
    CampaignSchedule,
    CampaignStats,
    RecipientRead,
)

router = APIRouter(prefix="/v1/campaigns", tags=["messaging"])

WRONG_STATE: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"description": "The campaign's status does not allow this"}
}


async def _campaign(campaign_id: str, principal: CurrentPrincipal, session: DbSession) -> Campaign:
    return await service.get_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)


@router.post(
    "", response_model=CampaignRead, status_code=status.HTTP_201_CREATED, responses=WRONG_STATE
)
async def create_campaign(
    body: CampaignCreate, principal: CurrentPrincipal, session: DbSession
) -> Campaign:
    """Create a draft, a campaign scheduled for ``scheduled_at``, or (``start``) one
    that starts sending at once."""
    principal.require(Scope.MESSAGES_WRITE)
    return await service.create_campaign(
        session, org_id=principal.org_id, data=body, user_id=principal.user_id
    )


@router.get("", response_model=Page[CampaignRead])
async def list_campaigns(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status: CampaignStatus | None = None,
    account_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[CampaignRead]:
    principal.require(Scope.MESSAGES_READ)
    rows, cursor = await service.list_campaigns(
        session, org_id=principal.org_id, params=page, status=status, account_id=account_id
    )
    return Page(data=[CampaignRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{campaign_id}", response_model=CampaignRead)
async def get_campaign(
    campaign_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Campaign:
    principal.require(Scope.MESSAGES_READ)
    return await _campaign(campaign_id, principal, session)


@router.post("/{campaign_id}/schedule", response_model=CampaignRead, responses=WRONG_STATE)
async def schedule_campaign(
    campaign_id: PathId, body: CampaignSchedule, principal: CurrentPrincipal, session: DbSession
) -> Campaign:
    """Start a draft at ``scheduled_at`` (or now when omitted or past)."""
    principal.require(Scope.MESSAGES_WRITE)
    campaign = await _campaign(campaign_id, principal, session)
    return await service.schedule(session, campaign=campaign, at=body.scheduled_at)


@router.post("/{campaign_id}/start", response_model=CampaignRead, responses=WRONG_STATE)
async def start_campaign(
    campaign_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Campaign:
    """Start a draft or scheduled campaign now: its recipients are chosen at once."""
    principal.require(Scope.MESSAGES_WRITE)
    campaign = await _campaign(campaign_id, principal, session)
    return await service.schedule(session, campaign=campaign, at=None)


@router.post("/{campaign_id}/pause", response_model=CampaignRead, responses=WRONG_STATE)
async def pause_campaign(
    campaign_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Campaign:
    principal.require(Scope.MESSAGES_WRITE)
    campaign = await _campaign(campaign_id, principal, session)
    return await service.pause(session, campaign=campaign)


@router.post("/{campaign_id}/resume", response_model=CampaignRead, responses=WRONG_STATE)
async def resume_campaign(
    campaign_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Campaign:
    principal.require(Scope.MESSAGES_WRITE)
    campaign = await _campaign(campaign_id, principal, session)
    return await service.resume(session, campaign=campaign)


@router.post("/{campaign_id}/cancel", response_model=CampaignRead, responses=WRONG_STATE)
async def cancel_campaign(
    campaign_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Campaign:
    principal.require(Scope.MESSAGES_WRITE)
    campaign = await _campaign(campaign_id, principal, session)
    return await service.cancel(session, campaign=campaign)


@router.get("/{campaign_id}/recipients", response_model=Page[RecipientRead])
async def list_recipients(
    campaign_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status: RecipientStatus | None = None,
) -> Page[RecipientRead]:
    """The campaign's recipients, newest first, each with its live status."""
    principal.require(Scope.MESSAGES_READ)
    campaign = await _campaign(campaign_id, principal, session)
    rows, cursor = await stats.list_recipients(
        session, campaign=campaign, params=page, status=status
    )
    return Page(data=rows, next_cursor=cursor)


@router.get("/{campaign_id}/stats", response_model=CampaignStats)
async def campaign_stats(
    campaign_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> CampaignStats:
    """Live funnel (recipients, sent, delivered, read, replied, failed, skipped), seed
    001's rates and the campaign score."""
    principal.require(Scope.MESSAGES_READ)
    campaign = await _campaign(campaign_id, principal, session)
    return await stats.campaign_stats(session, campaign=campaign)
