"""Recording a sent batch: each message sent, retried later or failed for good.

Only rows this runner still holds are changed (a runner that lost its lease to
another records nothing for those rows), and a message moves only forward: one
the provider already reported on (delivered before ``sent`` was recorded) keeps
its later status. Waits out a database blip like the webhook workers do, so a
batch that went out is not sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import Database, retry_while_unavailable
from commbase.core.time import utcnow
from commbase.messaging import events as messaging_events
from commbase.messaging.campaigns.enums import RecipientStatus
from commbase.messaging.campaigns.models import CampaignRecipient
from commbase.messaging.campaigns.outbound import Batch, SendOutcome, message_payload
from commbase.messaging.enums import MessageStatus
from commbase.messaging.models import Message

MAX_ATTEMPTS = 5
RETRY_AFTER_S = (5, 30, 120, 600)
RECORD_FOR_S = 60


def retry_after(attempts: int) -> int:
    return RETRY_AFTER_S[min(attempts, len(RETRY_AFTER_S)) - 1]


async def _record(
    session: AsyncSession, batch: Batch, outcomes: Sequence[SendOutcome], *, worker_id: str
) -> int:
    now = utcnow()
    by_message = {o.message_id: o for o in outcomes}
    recipient_of = {o.message_id: o.recipient_id for o in batch.outgoing}
    messages = (
        await session.scalars(
            select(Message)
            .where(Message.id.in_(list(recipient_of)))
            .order_by(Message.id)
            .with_for_update()
        )
    ).all()
    recipients = {
        r.id: r
        for r in (
            await session.scalars(
                select(CampaignRecipient)
                .where(CampaignRecipient.id.in_(list(recipient_of.values())))
                .order_by(CampaignRecipient.id)
                .with_for_update()
            )
        ).all()
    }
    sent = 0
    for message in messages:
        recipient = recipients[recipient_of[message.id]]
        if recipient.claimed_by != worker_id or message.claimed_by != worker_id:
            continue  # our lease ran out and another runner has it now
        outcome = by_message.get(message.id) or SendOutcome(
            message.id, error_code="no_answer", error_message="The provider gave no answer"
        )
        message.claimed_by = None
        message.claim_expires_at = None
        recipient.claimed_by = None
        message.attempts += 1
        if outcome.sent:
            sent += 1
            message.provider_message_id = outcome.provider_message_id
            if message.status == MessageStatus.QUEUED:
                message.status = MessageStatus.SENT
                message.sent_at = now
            recipient.status = RecipientStatus.SENT
            recipient.sent_at = now
            recipient.lease_until = None
            event = messaging_events.MESSAGE_SENT
        elif outcome.final or message.attempts >= MAX_ATTEMPTS:
            message.status = MessageStatus.FAILED
            message.failed_at = now
            message.error_code = (outcome.error_code or "failed")[:40]
            message.error_message = (outcome.error_message or "")[:500] or None
            recipient.status = RecipientStatus.FAILED
            recipient.error = message.error_message or message.error_code
            recipient.lease_until = None
            event = messaging_events.MESSAGE_FAILED
        else:
            message.error_code = (outcome.error_code or "retry")[:40]
            message.error_message = (outcome.error_message or "")[:500] or None
            recipient.lease_until = now + timedelta(seconds=retry_after(message.attempts))
            continue
        await session.flush()
        await outbox.record(session, event, message_payload(message), org_id=message.org_id)
    return sent


async def record(
    database: Database, batch: Batch, outcomes: Sequence[SendOutcome], *, worker_id: str
) -> int:
    """Write a batch's outcomes in one transaction; returns how many were sent."""

    async def attempt() -> int:
        async with database.sessionmaker() as session:
            sent = await _record(session, batch, outcomes, worker_id=worker_id)
            await session.commit()
            return sent

    result: int = await retry_while_unavailable(
        partial(attempt), for_s=RECORD_FOR_S, what="campaign outcomes"
    )
    return result
