"""Recording a sent batch: each message sent, retried later or failed for good.

Only rows this runner still holds are changed (a runner that lost its lease to
another records nothing for those rows), and a message moves only forward: one
the provider already reported on (delivered before ``sent`` was recorded) keeps
its later status. Waits out a database blip like the webhook workers do, so a
batch that went out is not sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, column, select, update, values
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


# The columns recording reads of each message (``message_payload`` and the outcome).
_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Message.account_id,
    Message.contact_id,
    Message.direction,
    Message.author_role,
    Message.content_type,
    Message.status,
    Message.campaign_id,
    Message.error_code,
    Message.error_message,
    Message.attempts,
)


async def _mark_sent(session: AsyncSession, sent: dict[str, str], *, now: datetime) -> None:
    """Queued messages (id -> provider id) sent: one statement on PostgreSQL."""
    table = cast(Table, Message.__table__)
    common = {
        "status": MessageStatus.SENT,
        "sent_at": now,
        "attempts": table.c.attempts + 1,
        "claimed_by": None,
        "claim_expires_at": None,
        "updated_at": now,
    }
    if session.get_bind().dialect.name != "postgresql":  # SQLite: row by row, in-process
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("message_id"))
            .values(provider_message_id=bindparam("provider_id"), **common),
            [{"message_id": key, "provider_id": value} for key, value in sent.items()],
        )
        return
    given = values(column("message_id", String), column("provider_id", String), name="given").data(
        sorted(sent.items())
    )
    await session.execute(
        update(table)
        .where(table.c.id == given.c.message_id)
        .values(provider_message_id=given.c.provider_id, **common)
    )


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
        await session.execute(
            select(*_COLUMNS)
            .where(Message.id.in_(list(recipient_of)), Message.claimed_by == worker_id)
            .order_by(Message.id)
            .with_for_update()
        )
    ).all()
    sent_now: dict[str, str] = {}  # queued message id -> provider id: the common case
    sent_recipients: list[str] = []
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
            sent_recipients.append(recipient_id)
            row["provider_message_id"] = outcome.provider_message_id
            if message.status == MessageStatus.QUEUED:  # not overtaken by a status report
                sent_now[message.id] = str(outcome.provider_message_id)
                row.update(status=MessageStatus.SENT, sent_at=now)
            else:
                message_rows.append(row)
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
        if not outcome.sent:
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
    if sent_now:
        await _mark_sent(session, sent_now, now=now)
    if sent_recipients:
        await session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.id.in_(sent_recipients))
            .values(
                status=RecipientStatus.SENT,
                sent_at=now,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    if message_rows:  # the rarer outcomes, row by row
        await session.execute(update(Message), message_rows)
    if recipient_rows:
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
