"""Moving a message's status forward, and announcing it.

Statuses only move forward (``enums.moves_forward``): a late, repeated or
out-of-order report changes nothing. A report that skips a step fills in the
time of the step it skipped (read before delivered: delivered at the same time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.messaging import events
from commbase.messaging.enums import MessageStatus, moves_forward
from commbase.messaging.models import Message
from commbase.messaging.providers.base import StatusReport

_TIME_OF = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
}
_IMPLIED = {
    MessageStatus.DELIVERED: (MessageStatus.SENT,),
    MessageStatus.READ: (MessageStatus.SENT, MessageStatus.DELIVERED),
}


def payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "account_id": message.account_id,
        "contact_id": message.contact_id,
        "direction": message.direction,
        "author_role": message.author_role,
        "content_type": message.content_type,
        "status": message.status,
        "campaign_id": message.campaign_id,
        "error_code": message.error_code,
        "error_message": message.error_message,
    }


def _move(
    message: Message,
    status: MessageStatus,
    at: datetime,
    error_code: str | None,
    error_message: str | None,
) -> bool:
    """Move ``message`` to ``status`` at ``at`` if that is forward; True if it moved."""
    if not moves_forward(message.status, status):
        return False
    message.status = status
    setattr(message, _TIME_OF[status], at)
    for implied in _IMPLIED.get(status, ()):
        if getattr(message, _TIME_OF[implied]) is None:
            setattr(message, _TIME_OF[implied], at)
    if status == MessageStatus.FAILED:
        message.error_code = error_code
        message.error_message = (error_message or "")[:500] or None
        message.next_attempt_at = None
    return True


async def advance(
    session: AsyncSession,
    *,
    message: Message,
    status: MessageStatus,
    at: datetime,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Move ``message`` to ``status`` at ``at`` if that is forward (and announce it);
    True if it moved."""
    if not _move(message, status, at, error_code, error_message):
        return False
    await outbox.record(session, events.BY_STATUS[status], payload(message), org_id=message.org_id)
    return True


async def apply_reports(
    session: AsyncSession, *, account_id: str, reports: list[StatusReport]
) -> int:
    """Apply a provider's status reports to the account's messages (read in one query,
    locked; each moved event recorded, one insert per status); returns how many moved.
    Reports about messages this account never sent are ignored."""
    if not reports:
        return 0
    ids = sorted({report.provider_message_id for report in reports})
    rows = await session.scalars(
        select(Message)
        .where(Message.account_id == account_id, Message.provider_message_id.in_(ids))
        .order_by(Message.id)
        .with_for_update()
    )
    by_provider_id = {message.provider_message_id: message for message in rows}
    announced: dict[MessageStatus, list[dict[str, Any]]] = {status: [] for status in _TIME_OF}
    org_id = ""
    for report in sorted(reports, key=lambda r: r.at):
        message = by_provider_id.get(report.provider_message_id)
        if message is not None and _move(
            message, report.status, report.at, report.error_code, report.error_message
        ):
            announced[report.status].append(payload(message))
            org_id = message.org_id
    # In the order statuses move (sent, delivered, read, failed): a message's events
    # are recorded in the order it moved.
    for status, payloads in announced.items():
        await outbox.record_many(session, events.BY_STATUS[status], payloads, org_id=org_id)
    return sum(len(payloads) for payloads in announced.values())
