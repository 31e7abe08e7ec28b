"""Scheduled messaging work: snoozed conversations open again when their time comes."""

from __future__ import annotations

from sqlalchemy import select

from commbase.core import outbox
from commbase.core.jobs import JobContext, job
from commbase.messaging import events
from commbase.messaging.enums import ConversationStatus
from commbase.messaging.models import Conversation
from commbase.messaging.opening import conversation_payload

BATCH = 500


@job("messaging.wake_snoozed", schedule="* * * * *", per_organization=True)
async def wake_snoozed(ctx: JobContext) -> int:
    """Open every snoozed conversation whose ``snoozed_until`` has passed."""
    woken = 0
    while True:
        async with ctx.database.sessionmaker() as session:
            statement = select(Conversation).where(
                Conversation.status == ConversationStatus.SNOOZED,
                Conversation.snoozed_until <= ctx.now,
            )
            if ctx.org_id is not None:
                statement = statement.where(Conversation.org_id == ctx.org_id)
            due = (
                await session.scalars(
                    statement.order_by(Conversation.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for conversation in due:
                conversation.status = ConversationStatus.OPEN
                conversation.snoozed_until = None
                await outbox.record(
                    session,
                    events.CONVERSATION_STATUS_CHANGED,
                    conversation_payload(conversation, previous_status=ConversationStatus.SNOOZED),
                    org_id=conversation.org_id,
                )
            await session.commit()
        woken += len(due)
        if len(due) < BATCH:
            return woken
