"""Drive simulated messages forward: in the app every second, or by tests on demand.

Each outbound message the simulator sent takes the steps of its recipient's
number pattern (``providers.simulator``) once they are due, and the contacts
whose numbers reply do so, as inbound messages through the same path a
provider's webhook takes.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import Database
from commbase.core.loops import repeat
from commbase.core.time import utcnow
from commbase.messaging import inbound
from commbase.messaging.enums import ContentType, Direction, MessageStatus, ProviderName
from commbase.messaging.models import ChannelAccount, Conversation, Message
from commbase.messaging.providers.base import InboundMessage
from commbase.messaging.providers.simulator import (
    REPLY_AFTER_S,
    REPLYING,
    UNREAD,
    due_steps,
    reply_for,
)
from commbase.messaging.statuses import advance

BATCH = 500


async def _reply(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    conversation: Conversation,
    message: Message,
    now: datetime,
) -> None:
    to = conversation.client_phone or ""
    text = reply_for(to)
    if text is None or message.sent_at is None:
        return
    at = message.sent_at + timedelta(seconds=REPLY_AFTER_S)
    if at > now:
        return
    await inbound.receive(
        session,
        account=account,
        inbound=InboundMessage(
            provider_message_id=f"sim.reply.{message.id}",
            from_phone=to,
            from_name=conversation.client_name,
            at=at,
            content_type=ContentType.TEXT,
            body=text,
            reply_to_provider_id=message.provider_message_id,
        ),
    )
    # Filing marks the reply's conversation's messages replied; this one is marked
    # whichever conversation the reply was filed in (or if it was filed before), so
    # it is not picked up again every second.
    if message.replied_at is None:
        message.replied_at = at


async def advance_simulated_messages(database: Database, *, now: datetime | None = None) -> int:
    """Apply every due step of every simulated outbound message, and the replies;
    returns how many messages moved. Rows are claimed with SKIP LOCKED, so several
    processes may run this."""
    now = now or utcnow()
    moved = 0
    async with database.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Message, Conversation, ChannelAccount)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(ChannelAccount, ChannelAccount.id == Message.account_id)
                .where(
                    or_(
                        Message.status == MessageStatus.SENT,
                        # Delivered, with a read to come: one that stays delivered is
                        # done (read again each second, the oldest such 500 would
                        # hold the batch and starve every newer message).
                        and_(
                            Message.status == MessageStatus.DELIVERED,
                            or_(
                                Conversation.client_phone.is_(None),
                                Conversation.client_phone.not_like(f"%{UNREAD}"),
                            ),
                        ),
                        # Read, and the contact's number is one that answers.
                        and_(
                            Message.status == MessageStatus.READ,
                            Message.replied_at.is_(None),
                            or_(*(Conversation.client_phone.like(f"%{t}") for t in REPLYING)),
                        ),
                    ),
                    Message.provider == ProviderName.SIMULATOR,
                    Message.direction == Direction.OUTBOUND,
                    Message.sent_at <= now - timedelta(seconds=1),
                )
                .order_by(Message.id)
                .limit(BATCH)
                .with_for_update(of=Message, skip_locked=True)
            )
        ).all()
        for message, conversation, account in rows:
            to = conversation.client_phone or ""
            if message.sent_at is None:
                continue
            for step in due_steps(to, sent_at=message.sent_at, now=now):
                at = message.sent_at + timedelta(seconds=step.offset_s)
                if await advance(
                    session,
                    message=message,
                    status=step.status,
                    at=at,
                    error_code=step.error_code,
                    error_message=step.error_message,
                ):
                    moved += 1
            if message.status == MessageStatus.READ:
                await _reply(
                    session, account=account, conversation=conversation, message=message, now=now
                )
        await session.commit()
    return moved


class MessagingSimulatorRunner:
    """A background loop that keeps simulated messages moving."""

    def __init__(self, database: Database, *, tick_s: float = 1.0) -> None:
        self.database = database
        self.tick_s = tick_s
        self._stop = asyncio.Event()

    async def run_forever(self) -> None:
        await repeat(
            lambda: advance_simulated_messages(self.database),
            stop=self._stop,
            pause_s=self.tick_s,
            name="messaging-simulator",
        )

    def stop(self) -> None:
        self._stop.set()
