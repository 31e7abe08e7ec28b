"""Live campaign statistics and recipients, read from the recipients and their messages.

A recipient's status is the runner's while it has no message (queued, skipped)
and then its message's: queued, sent, delivered, read or failed, and
``replied`` once the contact wrote back after it (the message's ``replied_at``).
Nothing is copied: what the WhatsApp webhook or the simulator records on a
message shows in the campaign at once.

The funnel counts recipients whose message reached each step, independently of
later steps: ``sent`` = sent, delivered or read; ``delivered`` = delivered or
read; ``read`` = read; ``replied`` = replied after it; ``failed`` = failed;
``cancelled`` = still queued without a message when the campaign was cancelled
(recipients = queued + sent + failed + skipped + cancelled).
Seed 001's rates: delivery = delivered / sent, read = read / delivered,
reply = replied / sent, failure = failed / recipients (each x 100, 2 decimals),
and the campaign score of ``analytics.calculations``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import calculations
from commbase.core.pagination import PageParams, encode_cursor
from commbase.messaging.campaigns.enums import RecipientStatus
from commbase.messaging.campaigns.models import Campaign, CampaignRecipient
from commbase.messaging.campaigns.schemas import CampaignFunnel, CampaignStats, RecipientRead
from commbase.messaging.enums import MessageStatus
from commbase.messaging.models import Message

_REACHED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)

LIVE_STATUS = case(
    (Message.id.is_(None), CampaignRecipient.status),
    (Message.status == MessageStatus.FAILED, literal(RecipientStatus.FAILED.value)),
    (Message.replied_at.is_not(None), literal(RecipientStatus.REPLIED.value)),
    else_=Message.status,
)


def _joined(columns: Sequence[Any]) -> Select[Any]:
    return select(*columns).outerjoin(
        Message,
        and_(
            Message.id == CampaignRecipient.message_id,
            Message.org_id == CampaignRecipient.org_id,
        ),
    )


def _counted(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def campaign_stats(session: AsyncSession, *, campaign: Campaign) -> CampaignStats:
    row = (
        await session.execute(
            _joined(
                [
                    func.count(CampaignRecipient.id).label("recipients"),
                    _counted(Message.id.is_(None) & (CampaignRecipient.status == "queued")).label(
                        "unsent"
                    ),
                    _counted(Message.status == MessageStatus.QUEUED).label("queued"),
                    _counted(Message.status.in_(_REACHED)).label("sent"),
                    _counted(
                        Message.status.in_((MessageStatus.DELIVERED, MessageStatus.READ))
                    ).label("delivered"),
                    _counted(Message.status == MessageStatus.READ).label("read"),
                    _counted(
                        Message.replied_at.is_not(None) & (Message.status != MessageStatus.FAILED)
                    ).label("replied"),
                    _counted(
                        (Message.status == MessageStatus.FAILED)
                        | (CampaignRecipient.status == RecipientStatus.FAILED)
                    ).label("failed"),
                    _counted(CampaignRecipient.status == RecipientStatus.SKIPPED).label("skipped"),
                    _counted(CampaignRecipient.status == RecipientStatus.CANCELLED).label(
                        "cancelled"
                    ),
                ]
            ).where(
                CampaignRecipient.org_id == campaign.org_id,
                CampaignRecipient.campaign_id == campaign.id,
            )
        )
    ).one()
    funnel = CampaignFunnel(
        recipients=int(row.recipients),
        queued=int(row.unsent) + int(row.queued),
        sent=int(row.sent),
        delivered=int(row.delivered),
        read=int(row.read),
        replied=int(row.replied),
        failed=int(row.failed),
        skipped=int(row.skipped),
        cancelled=int(row.cancelled),
        skipped_opted_out=campaign.skipped_opted_out,
    )
    rates = {
        "deliveryRate": calculations.delivery_rate(funnel.delivered, funnel.sent),
        "readRate": calculations.read_rate(funnel.read, funnel.delivered),
        "replyRate": calculations.reply_rate(funnel.replied, funnel.sent),
        "failureRate": calculations.failure_rate(funnel.failed, funnel.recipients),
    }
    return CampaignStats(
        campaign_id=campaign.id,
        status=campaign.status,
        funnel=funnel,
        delivery_rate=rates["deliveryRate"],
        read_rate=rates["readRate"],
        reply_rate=rates["replyRate"],
        failure_rate=rates["failureRate"],
        score=calculations.campaign_score(rates),
    )


async def list_recipients(
    session: AsyncSession,
    *,
    campaign: Campaign,
    params: PageParams,
    status: RecipientStatus | None = None,
) -> tuple[list[RecipientRead], str | None]:
    """One page of recipients, newest first, each with its live status."""
    statement = _joined([CampaignRecipient, LIVE_STATUS.label("live_status")]).where(
        CampaignRecipient.org_id == campaign.org_id,
        CampaignRecipient.campaign_id == campaign.id,
    )
    if status is not None:
        statement = statement.where(LIVE_STATUS.in_([status.value]))
    if params.after_id is not None:
        statement = statement.where(CampaignRecipient.id < params.after_id)
    statement = statement.order_by(CampaignRecipient.id.desc()).limit(params.limit + 1)
    rows = (await session.execute(statement)).all()
    cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        cursor = encode_cursor(rows[-1][0].id)
    return [
        RecipientRead(
            id=recipient.id,
            campaign_id=recipient.campaign_id,
            contact_id=recipient.contact_id,
            status=live,
            skip_reason=recipient.skip_reason,
            message_id=recipient.message_id,
            error=recipient.error,
            sent_at=recipient.sent_at,
            created_at=recipient.created_at,
        )
        for recipient, live in rows
    ], cursor
