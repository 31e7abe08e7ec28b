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
from typing import Any

from sqlalchemy import select, update
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
    held = set(
        (
            await session.scalars(
                select(CampaignRecipient.id)
                .where(
                    CampaignRecipient.id.in_(list(recipient_of.values())),
                    CampaignRecipient.claimed_by == worker_id,
                )
                .order_by(CampaignRecipient.id)
                .with_for_update()
            )
        ).all()
    )
    messages = (
        await session.scalars(
            select(Message)
            .where(Message.id.in_(list(recipient_of)), Message.claimed_by == worker_id)
            .order_by(Message.id)
            .with_for_update()
        )
    ).all()
    message_rows: list[dict[str, Any]] = []
    recipient_rows: list[dict[str, Any]] = []
    announced: dict[str, list[dict[str, Any]]] = {}
    sent = 0
    for message in messages:
        recipient_id = recipient_of[message.id]
        if recipient_id not in held:
            continue  # our lease ran out and another runner has it now
        outcome = by_message.get(message.id) or SendOutcome(
            message.id, error_code="no_answer", error_message="The provider gave no answer"
        )
        attempts = message.attempts + 1
        row: dict[str, Any] = {
            "id": message.id,
            "claimed_by": None,
            "claim_expires_at": None,
            "attempts": attempts,
            "updated_at": now,
        }
        recipient: dict[str, Any] = {"id": recipient_id, "claimed_by": None}
        if outcome.sent:
            sent += 1
            row["provider_message_id"] = outcome.provider_message_id
            if message.status == MessageStatus.QUEUED:  # not overtaken by a status report
                row.update(status=MessageStatus.SENT, sent_at=now)
            recipient.update(status=RecipientStatus.SENT, sent_at=now, lease_until=None)
            event: str | None = messaging_events.MESSAGE_SENT
        elif outcome.final or attempts >= MAX_ATTEMPTS:
            error = (outcome.error_message or "")[:500] or None
            row.update(
                status=MessageStatus.FAILED,
                failed_at=now,
                error_code=(outcome.error_code or "failed")[:40],
                error_message=error,
            )
            recipient.update(
                status=RecipientStatus.FAILED, error=error or row["error_code"], lease_until=None
            )
            event = messaging_events.MESSAGE_FAILED
        else:
            row.update(
                error_code=(outcome.error_code or "retry")[:40],
                error_message=(outcome.error_message or "")[:500] or None,
            )
            recipient["lease_until"] = now + timedelta(seconds=retry_after(attempts))
            event = None
        message_rows.append(row)
        recipient_rows.append(recipient)
        if event is not None:
            payload = message_payload(message)
            payload.update(
                status=row.get("status", message.status),
                error_code=row.get("error_code", message.error_code),
                error_message=row.get("error_message", message.error_message),
            )
            announced.setdefault(event, []).append(payload)
    if message_rows:
        await session.execute(update(Message), message_rows)
        await session.execute(update(CampaignRecipient), recipient_rows)
    for event_type, payloads in announced.items():
        await outbox.record_many(session, event_type, payloads, org_id=batch.campaign.org_id)
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
