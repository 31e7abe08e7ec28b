"""Outbound messages: checked and stored as queued in the request; sent after commit.

* WhatsApp's customer-service window: free-form messages (anything but a
  template) only within 24 hours of the contact's last inbound message on the
  account; after that a template is required (422 naming ``content_type``).
* Assistant messages count against ``ai_settings.daily_message_limit`` of the
  sending member (the default, 1000, for other credentials), per organization
  and local day: past it, 429 until midnight in the organization's zone.
* The message is stored ``queued`` with ``message.queued`` in the outbox; the
  ``messaging.send`` effect (``messaging.delivery``) hands it to the provider.
* An ``Idempotency-Key`` is stored on the message (unique per organization): a
  retried request gets the message it created.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.errors import ContactBlocked, RateLimited, invalid
from commbase.identity import service as identity_service
from commbase.identity.schemas import AISettings
from commbase.identity.signup import service as signup_service
from commbase.messaging import events, fulltext
from commbase.messaging.enums import (
    AccountStatus,
    AuthorRole,
    ChannelKind,
    ContentType,
    Direction,
    MessageStatus,
    ProviderName,
)
from commbase.messaging.models import ChannelAccount, Conversation, Message
from commbase.messaging.schemas import MessageCreate
from commbase.messaging.statuses import payload

WINDOW = timedelta(hours=24)
DEFAULT_DAILY_LIMIT = AISettings().daily_message_limit


async def last_inbound_at(
    session: AsyncSession, *, account_id: str, contact_id: str | None
) -> datetime | None:
    """When the contact last wrote to the account, in any of its conversations."""
    if contact_id is None:
        return None
    result: datetime | None = await session.scalar(
        select(func.max(Conversation.last_inbound_at)).where(
            Conversation.account_id == account_id, Conversation.contact_id == contact_id
        )
    )
    return result


async def _check_window(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    conversation: Conversation,
    content_type: ContentType,
    now: datetime,
) -> None:
    if account.kind != ChannelKind.WHATSAPP or content_type == ContentType.TEMPLATE:
        return
    last = await last_inbound_at(session, account_id=account.id, contact_id=conversation.contact_id)
    if last is None or now - last > WINDOW:
        since = "has never written" if last is None else f"last wrote at {last.isoformat()}"
        raise invalid(
            "WhatsApp allows free-form messages only within 24 hours of the contact's last "
            f"message; the contact {since}. Send a template message instead.",
            "content_type",
            window_closed=True,
        )


async def _daily_limit(session: AsyncSession, *, org_id: str, user_id: str | None) -> int:
    if user_id is None:
        return DEFAULT_DAILY_LIMIT
    user = await identity_service.get_member_user(session, org_id=org_id, user_id=user_id)
    limit = (user.ai_settings or {}).get("daily_message_limit")
    return int(limit) if isinstance(limit, int) else DEFAULT_DAILY_LIMIT


async def _check_daily_limit(
    session: AsyncSession, *, org_id: str, user_id: str | None, timezone: str, now: datetime
) -> None:
    zone = ZoneInfo(timezone)
    local_day = now.astimezone(zone).date()
    start = datetime.combine(local_day, time(0), zone)
    end = datetime.combine(local_day + timedelta(days=1), time(0), zone)
    limit = await _daily_limit(session, org_id=org_id, user_id=user_id)
    sent = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.org_id == org_id,
            Message.author_role == AuthorRole.ASSISTANT,
            Message.created_at >= start,
            Message.created_at < end,
        )
    )
    if (sent or 0) >= limit:
        retry_after = max(1, int((end - now).total_seconds()))
        raise RateLimited(
            f"The assistant's daily message limit ({limit}, ai_settings.daily_message_limit) "
            "is reached for today",
            headers={"Retry-After": str(retry_after)},
        )


async def _by_key(session: AsyncSession, *, org_id: str, key: str | None) -> Message | None:
    if key is None:
        return None
    return await session.scalar(
        select(Message).where(Message.org_id == org_id, Message.idempotency_key == key)
    )


async def _reply_to(
    session: AsyncSession, *, conversation: Conversation, message_id: str | None
) -> str | None:
    if message_id is None:
        return None
    found = await session.scalar(
        select(Message.id).where(
            Message.conversation_id == conversation.id, Message.id == message_id
        )
    )
    if found is None:
        raise invalid(
            "reply_to_message_id is not a message of this conversation", "reply_to_message_id"
        )
    return found


def _record_response(conversation: Conversation, *, author_role: str, at: datetime) -> None:
    conversation.last_activity_at = at
    conversation.message_count += 1
    conversation.outbound_count += 1
    human_or_ai = author_role in (AuthorRole.AGENT, AuthorRole.ASSISTANT)
    if human_or_ai and conversation.first_inbound_at and conversation.first_response_at is None:
        conversation.first_response_at = at
        conversation.first_response_seconds = max(
            0, int((at - conversation.first_inbound_at).total_seconds())
        )


async def queue_message(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    conversation: Conversation,
    data: MessageCreate,
    now: datetime,
    timezone: str,
    sender_user_id: str | None = None,
    sender_agent_session_id: str | None = None,
    idempotency_key: str | None = None,
    livemode: bool = True,
    campaign_id: str | None = None,
) -> Message:
    """Store an outbound message as queued and announce it; the send effect sends it."""
    replayed = await _by_key(session, org_id=account.org_id, key=idempotency_key)
    if replayed is not None:
        return replayed
    if account.status != AccountStatus.ACTIVE:
        raise invalid("the conversation's channel account is disabled", "account_id")
    await signup_service.require_verified(session, org_id=account.org_id)
    if conversation.client_phone and await contacts_service.is_blocked(
        session, org_id=account.org_id, phone=conversation.client_phone
    ):
        raise ContactBlocked("The contact is blocked: nothing is sent to them")
    await _check_window(
        session, account=account, conversation=conversation, content_type=data.content_type, now=now
    )
    if data.author_role == AuthorRole.ASSISTANT:
        await _check_daily_limit(
            session, org_id=account.org_id, user_id=sender_user_id, timezone=timezone, now=now
        )
    message = Message(
        org_id=account.org_id,
        account_id=account.id,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        direction=Direction.OUTBOUND,
        author_role=data.author_role,
        sender_user_id=sender_user_id,
        sender_agent_session_id=sender_agent_session_id,
        content_type=data.content_type,
        body=data.body,
        media_url=data.media_url,
        media_type=data.media_type,
        media_size=data.media_size,
        template_name=data.template_name,
        template_language=data.template_language,
        template_parameters=data.template_parameters,
        metadata_=data.metadata,
        reply_to_message_id=await _reply_to(
            session, conversation=conversation, message_id=data.reply_to_message_id
        ),
        campaign_id=campaign_id,
        # Test-mode credentials never reach a real provider.
        provider=account.provider if livemode else ProviderName.SIMULATOR,
        status=MessageStatus.QUEUED,
        queued_at=now,
        next_attempt_at=now,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    _record_response(conversation, author_role=data.author_role, at=now)
    await fulltext.index(session, [message])
    await outbox.record(session, events.MESSAGE_QUEUED, payload(message), org_id=account.org_id)
    return message
