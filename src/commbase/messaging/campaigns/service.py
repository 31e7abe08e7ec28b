"""Campaigns: create, read, start (now or at a time), pause, resume, cancel.

A campaign moves draft -> scheduled -> running -> completed, and may be paused
(and resumed) while scheduled or running, cancelled until it finishes, or fail
(its channel account was disabled). Starting chooses the recipients
(``audience.py``); the runner (``runner.py``) sends to them at the throttle's
pace and completes the campaign. Statistics are ``stats.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.messaging.campaigns import events
from commbase.messaging.campaigns.audience import choose_recipients
from commbase.messaging.campaigns.enums import (
    FINISHED_CAMPAIGN,
    CampaignStatus,
    RecipientStatus,
)
from commbase.messaging.campaigns.models import Campaign, CampaignRecipient
from commbase.messaging.campaigns.schemas import CampaignCreate
from commbase.messaging.enums import AccountStatus
from commbase.messaging.models import ChannelAccount


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def payload(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "account_id": campaign.account_id,
        "name": campaign.name,
        "status": campaign.status,
        "recipients_total": campaign.recipients_total,
        "skipped_opted_out": campaign.skipped_opted_out,
        "skipped_other": campaign.skipped_other,
        "started_at": _iso(campaign.started_at),
        "completed_at": _iso(campaign.completed_at),
    }


async def _account(session: AsyncSession, *, org_id: str, account_id: str) -> ChannelAccount:
    account = await session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.org_id == org_id, ChannelAccount.id == account_id
        )
    )
    if account is None:
        raise invalid("No channel account with this id", "account_id")
    if account.status != AccountStatus.ACTIVE:
        raise invalid("The channel account is disabled", "account_id")
    return account


async def create_campaign(
    session: AsyncSession, *, org_id: str, data: CampaignCreate, user_id: str | None
) -> Campaign:
    """A draft, or a campaign scheduled for ``scheduled_at``, or one started at once."""
    await _account(session, org_id=org_id, account_id=data.account_id)
    campaign = Campaign(
        org_id=org_id,
        account_id=data.account_id,
        name=data.name,
        template_name=data.template_name,
        template_language=data.template_language,
        template_parameters=list(data.template_parameters),
        audience=data.audience.model_dump(mode="json"),
        throttle_per_second=data.throttle_per_second,
        status=CampaignStatus.DRAFT,
        created_by_user_id=user_id,
    )
    session.add(campaign)
    await session.flush()
    if data.start or data.scheduled_at is not None:
        await schedule(session, campaign=campaign, at=data.scheduled_at)
    return campaign


async def get_campaign(session: AsyncSession, *, org_id: str, campaign_id: str) -> Campaign:
    campaign = await session.scalar(
        select(Campaign).where(Campaign.org_id == org_id, Campaign.id == campaign_id)
    )
    if campaign is None:
        raise NotFound("Campaign not found")
    return campaign


async def list_campaigns(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: CampaignStatus | None = None,
    account_id: str | None = None,
) -> tuple[Sequence[Campaign], str | None]:
    statement = select(Campaign).where(Campaign.org_id == org_id)
    if status is not None:
        statement = statement.where(Campaign.status == status)
    if account_id:
        statement = statement.where(Campaign.account_id == account_id)
    return await paginate(session, statement, id_column=Campaign.id, params=params)


def _refuse(campaign: Campaign, action: str, *allowed: CampaignStatus) -> None:
    if campaign.status not in allowed:
        raise Conflict(
            f"A {campaign.status} campaign cannot be {action}",
            status=campaign.status,
            allowed_from=sorted(allowed),
        )


async def start_now(session: AsyncSession, *, campaign: Campaign) -> Campaign:
    """Choose the recipients and let the runner send (the campaign is running)."""
    await _account(session, org_id=campaign.org_id, account_id=campaign.account_id)
    now = utcnow()
    await choose_recipients(session, campaign=campaign)
    campaign.status = CampaignStatus.RUNNING
    campaign.started_at = now
    campaign.scheduled_at = campaign.scheduled_at or now
    campaign.updated_at = now
    await session.flush()
    await outbox.record(session, events.CAMPAIGN_STARTED, payload(campaign), org_id=campaign.org_id)
    return campaign


async def schedule(session: AsyncSession, *, campaign: Campaign, at: datetime | None) -> Campaign:
    """Start a draft now, or at ``at`` (a time in the past starts it now)."""
    _refuse(campaign, "started", CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
    now = utcnow()
    if at is None or at <= now:
        return await start_now(session, campaign=campaign)
    await _account(session, org_id=campaign.org_id, account_id=campaign.account_id)
    campaign.status = CampaignStatus.SCHEDULED
    campaign.scheduled_at = at
    await session.flush()
    return campaign


async def pause(session: AsyncSession, *, campaign: Campaign) -> Campaign:
    """Stop sending; messages already handed to the provider still arrive."""
    _refuse(campaign, "paused", CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
    campaign.status = CampaignStatus.PAUSED
    campaign.paused_at = utcnow()
    await session.flush()
    return campaign


async def resume(session: AsyncSession, *, campaign: Campaign) -> Campaign:
    """Send again where it stopped; a campaign paused before it began waits for its time."""
    _refuse(campaign, "resumed", CampaignStatus.PAUSED)
    campaign.paused_at = None
    if campaign.started_at is None:
        campaign.status = CampaignStatus.SCHEDULED
        await session.flush()
        if campaign.scheduled_at is None or campaign.scheduled_at <= utcnow():
            campaign.status = CampaignStatus.DRAFT
            return await schedule(session, campaign=campaign, at=None)
        return campaign
    campaign.status = CampaignStatus.RUNNING
    await session.flush()
    return campaign


async def cancel(session: AsyncSession, *, campaign: Campaign) -> Campaign:
    """Stop for good: recipients not sent yet get nothing. Those still queued without a
    message become ``cancelled`` (final); a runner's batch already holding its messages
    finishes sending them and they follow their message, so the funnel still adds up:
    recipients = queued + sent + failed + skipped + cancelled."""
    unfinished = [s for s in CampaignStatus if s not in FINISHED_CAMPAIGN]
    _refuse(campaign, "cancelled", *unfinished)
    campaign.status = CampaignStatus.CANCELLED
    campaign.cancelled_at = utcnow()
    await session.flush()
    await session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.org_id == campaign.org_id,
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status == RecipientStatus.QUEUED,
            CampaignRecipient.message_id.is_(None),
        )
        .values(status=RecipientStatus.CANCELLED, claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return campaign
