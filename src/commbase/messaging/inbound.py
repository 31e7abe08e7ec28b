"""A contact's message arriving: matched to a contact, filed in a conversation, stored once.

* The contact is matched by phone (E.164), else by an email address an earlier
  conversation of the organization recorded; otherwise created through the
  contacts service.
* The conversation is the contact's unresolved one on the account; a snoozed or
  pending one opens again; with none (or only resolved ones) a new one opens.
* A provider message id is stored once per account: a repeated webhook is dropped.
* Outbound messages waiting for an answer in the conversation are marked replied;
  STOP opts the contact out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.contacts.schemas import ContactCreate, ContactMetadata
from commbase.core import outbox
from commbase.core.errors import AlreadyExists, invalid
from commbase.core.ids import new_id
from commbase.core.phones import InvalidPhone, to_e164
from commbase.core.time import utcnow
from commbase.messaging import events, fulltext, opt_outs
from commbase.messaging.enums import (
    AuthorRole,
    ConversationStatus,
    Direction,
    MessageStatus,
    OptOutSource,
    ProviderName,
)
from commbase.messaging.models import ChannelAccount, Conversation, Message
from commbase.messaging.providers.base import InboundMessage
from commbase.messaging.schemas import InboundCreate
from commbase.messaging.statuses import payload


def conversation_payload(
    conversation: Conversation, *, previous_status: str | None = None
) -> dict[str, str | None]:
    return {
        "id": conversation.id,
        "account_id": conversation.account_id,
        "contact_id": conversation.contact_id,
        "channel": conversation.channel,
        "status": conversation.status,
        "previous_status": previous_status,
        "assignee_user_id": conversation.assignee_user_id,
        "assignee_agent_session_id": conversation.assignee_agent_session_id,
    }


def _phone(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return to_e164(raw)
    except InvalidPhone:
        return None


async def _contact_by_email(session: AsyncSession, *, org_id: str, email: str) -> str | None:
    return await session.scalar(
        select(Conversation.contact_id)
        .where(
            Conversation.org_id == org_id,
            Conversation.client_email == email,
            Conversation.contact_id.is_not(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def _contact_by_session(
    session: AsyncSession, *, account_id: str, session_id: str
) -> str | None:
    return await session.scalar(
        select(Conversation.contact_id)
        .where(
            Conversation.account_id == account_id,
            Conversation.session_id == session_id,
            Conversation.contact_id.is_not(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def match_contact(
    session: AsyncSession,
    *,
    org_id: str,
    phone: str | None,
    email: str | None,
    name: str | None,
    account_id: str | None = None,
    session_id: str | None = None,
) -> str:
    """The id of the contact writing from ``phone`` / ``email`` (or, with neither, in
    the chat ``session_id`` on ``account_id``), created if new."""
    if phone is not None:
        found = await contacts_service.find_by_phone(session, org_id=org_id, phone=phone)
        if found is not None:
            return found.id
    if email is not None:
        by_email = await _contact_by_email(session, org_id=org_id, email=email)
        if by_email is not None:
            return by_email
    if phone is None and email is None and account_id and session_id:
        by_session = await _contact_by_session(
            session, account_id=account_id, session_id=session_id
        )
        if by_session is not None:
            return by_session
    data = ContactCreate(
        name=(name or phone or email or "Visitor")[:200],
        phone=phone,
        metadata=ContactMetadata(email=email) if email else ContactMetadata(),
    )
    try:
        contact = await contacts_service.create_contact(session, org_id=org_id, data=data)
    except AlreadyExists:
        # Created by a concurrent message from the same number.
        found = await contacts_service.find_by_phone(session, org_id=org_id, phone=phone or "")
        if found is None:
            raise
        return found.id
    return contact.id


async def open_conversation(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    contact_id: str,
    at: datetime,
    client_phone: str | None = None,
    client_email: str | None = None,
    client_name: str | None = None,
    session_id: str | None = None,
) -> Conversation:
    """The contact's unresolved conversation on the account, or a new open one."""
    statement = select(Conversation).where(
        Conversation.account_id == account.id, Conversation.active_contact_key == contact_id
    )
    existing = await session.scalar(statement.with_for_update())
    if existing is not None:
        return existing
    conversation = Conversation(
        org_id=account.org_id,
        account_id=account.id,
        contact_id=contact_id,
        active_contact_key=contact_id,
        channel=account.kind,
        session_id=session_id,
        client_phone=client_phone,
        client_email=client_email,
        client_name=client_name,
        last_activity_at=at,
    )
    try:
        async with session.begin_nested():
            session.add(conversation)
            await session.flush()
    except IntegrityError:
        again = await session.scalar(statement.with_for_update())
        if again is None:
            raise
        return again
    await outbox.record(
        session,
        events.CONVERSATION_CREATED,
        conversation_payload(conversation),
        org_id=account.org_id,
    )
    return conversation


async def _already_stored(session: AsyncSession, *, account_id: str, provider_id: str) -> bool:
    found = await session.scalar(
        select(Message.id).where(
            Message.account_id == account_id, Message.provider_message_id == provider_id
        )
    )
    return found is not None


async def _insert_once(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert the message unless its provider id is stored already (one statement, no
    savepoint: a concurrent copy of the same webhook loses quietly); True if inserted."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(Message.__table__)
        .values(values)
        .on_conflict_do_nothing(index_elements=["account_id", "provider_message_id"])
        .returning(Message.__table__.c.id)
    )
    return (await session.execute(statement)).first() is not None


async def _reopen(session: AsyncSession, conversation: Conversation) -> None:
    if conversation.status in (ConversationStatus.PENDING, ConversationStatus.SNOOZED):
        previous = conversation.status
        conversation.status = ConversationStatus.OPEN
        conversation.snoozed_until = None
        await outbox.record(
            session,
            events.CONVERSATION_STATUS_CHANGED,
            conversation_payload(conversation, previous_status=previous),
            org_id=conversation.org_id,
        )


async def _mark_replied(session: AsyncSession, *, conversation_id: str, at: datetime) -> None:
    await session.execute(
        update(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.OUTBOUND,
            Message.replied_at.is_(None),
            Message.status != MessageStatus.FAILED,
            Message.created_at <= at,
        )
        .values(replied_at=at)
        .execution_options(synchronize_session=False)
    )


async def receive(
    session: AsyncSession, *, account: ChannelAccount, inbound: InboundMessage
) -> Message | None:
    """Store a contact's message; None if this provider message id was stored before."""
    if inbound.provider_message_id and await _already_stored(
        session, account_id=account.id, provider_id=inbound.provider_message_id
    ):
        return None
    phone = _phone(inbound.from_phone)
    contact_id = await match_contact(
        session,
        org_id=account.org_id,
        phone=phone,
        email=inbound.from_email,
        name=inbound.from_name,
        account_id=account.id,
        session_id=inbound.session_id,
    )
    conversation = await open_conversation(
        session,
        account=account,
        contact_id=contact_id,
        at=inbound.at,
        client_phone=phone,
        client_email=inbound.from_email,
        client_name=inbound.from_name,
        session_id=inbound.session_id,
    )
    reply_to = None
    if inbound.reply_to_provider_id:
        reply_to = await session.scalar(
            select(Message.id).where(
                Message.account_id == account.id,
                Message.provider_message_id == inbound.reply_to_provider_id,
            )
        )
    now = utcnow()
    values = {
        "id": new_id("msg"),
        "org_id": account.org_id,
        "account_id": account.id,
        "conversation_id": conversation.id,
        "contact_id": contact_id,
        "direction": Direction.INBOUND,
        "author_role": AuthorRole.USER,
        "content_type": inbound.content_type,
        "body": inbound.body,
        "media_url": inbound.media_url,
        "media_type": inbound.media_type,
        "metadata": inbound.metadata,
        "reply_to_message_id": reply_to,
        "provider": account.provider,
        "provider_message_id": inbound.provider_message_id or None,
        "status": MessageStatus.DELIVERED,
        "sent_at": inbound.at,
        "delivered_at": inbound.at,
        "created_at": now,
        "updated_at": now,
    }
    if not await _insert_once(session, values):
        return None  # the same webhook, delivered twice at once
    message = Message(**{("metadata_" if k == "metadata" else k): v for k, v in values.items()})
    if conversation.outbound_count:
        await _mark_replied(session, conversation_id=conversation.id, at=inbound.at)
    await _reopen(session, conversation)
    conversation.first_inbound_at = conversation.first_inbound_at or inbound.at
    conversation.last_inbound_at = max(conversation.last_inbound_at or inbound.at, inbound.at)
    conversation.last_activity_at = max(conversation.last_activity_at or inbound.at, inbound.at)
    conversation.message_count += 1
    conversation.inbound_count += 1
    await fulltext.index(session, [message])
    await outbox.record(session, events.MESSAGE_RECEIVED, payload(message), org_id=account.org_id)
    if opt_outs.is_stop(inbound.body):
        await opt_outs.opt_out(
            session,
            org_id=account.org_id,
            contact_id=contact_id,
            source=OptOutSource.STOP_REPLY,
            account_id=account.id,
            message_id=message.id,
        )
    return message


async def receive_posted(
    session: AsyncSession, *, account: ChannelAccount, data: InboundCreate, now: datetime
) -> Message:
    """A contact's message posted through the API; the stored one if its
    ``provider_message_id`` was posted before."""
    if account.provider == ProviderName.WHATSAPP:
        raise invalid(
            "WhatsApp messages arrive through /v1/providers/whatsapp/webhook",
            "account_id",
            location="query",
        )
    if data.provider_message_id:
        stored = await session.scalar(
            select(Message).where(
                Message.account_id == account.id,
                Message.provider_message_id == data.provider_message_id,
            )
        )
        if stored is not None:
            return stored
    message = await receive(
        session,
        account=account,
        inbound=InboundMessage(
            provider_message_id=data.provider_message_id or "",
            from_phone=data.from_phone,
            from_email=data.from_email,
            from_name=data.from_name,
            session_id=data.session_id,
            at=data.sent_at or now,
            content_type=data.content_type,
            body=data.body,
            media_url=data.media_url,
            media_type=data.media_type,
            metadata=data.metadata,
        ),
    )
    if message is None:  # posted twice at the same moment
        raise AlreadyExists("This provider_message_id was just stored")
    stored = await session.get(Message, message.id)
    assert stored is not None  # inserted by this transaction
    return stored
