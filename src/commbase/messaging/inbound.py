"""A contact's message arriving: matched to a contact, filed in a conversation, stored once.

* The contact is matched (``contact_matching``): by phone, email or chat session,
  else created through the contacts service.
* The conversation is the contact's unresolved one on the account; a snoozed or
  pending one opens again; with none (or only resolved ones) a new one opens.
* A provider message id is stored once per account: a repeated webhook is dropped.
* Outbound messages waiting for an answer in the conversation are marked replied;
  STOP opts the contact out.

``receive_many`` files a batch to one account in a few statements (known phones,
open conversations and already stored ids are each read in one query; new
senders' contacts (``contacts.bulk``), their conversations (``opening.open_many``)
and the messages are each inserted together with ``ON CONFLICT DO NOTHING``, so
concurrent filers neither fail nor store twice); ``receive`` is a batch of one.
A batch's messages get increasing ids, so they list in the order they came.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from commbase.core import outbox
from commbase.core.errors import AlreadyExists, invalid
from commbase.core.ids import next_ulid, ulid_text, ulid_value
from commbase.core.time import utcnow
from commbase.messaging import (
    contact_matching,
    events,
    fulltext,
    inbound_pg,
    opening,
    opt_outs,
)
from commbase.messaging.enums import (
    AuthorRole,
    ConversationStatus,
    Direction,
    MessageStatus,
    OptOutSource,
    ProviderName,
)
from commbase.messaging.models import ChannelAccount, Conversation, Message
from commbase.messaging.opening import conversation_payload
from commbase.messaging.providers.base import InboundMessage
from commbase.messaging.schemas import InboundCreate


async def _stored_provider_ids(
    session: AsyncSession, *, account_id: str, provider_ids: set[str]
) -> set[str]:
    if not provider_ids:
        return set()
    rows = await session.scalars(
        select(Message.provider_message_id).where(
            Message.account_id == account_id,
            Message.provider_message_id.in_(sorted(provider_ids)),
        )
    )
    return {provider_id for provider_id in rows if provider_id}


def _insert_statement(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(Message.__table__)
        .on_conflict_do_nothing(index_elements=["account_id", "provider_message_id"])
        .returning(Message.__table__.c.id)
    )


_INSERT = {dialect: _insert_statement(dialect) for dialect in ("postgresql", "sqlite")}


async def _insert_new(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the messages whose provider id is not stored yet: one statement for the
    batch, compiled once (executemany, sent as multi-row INSERTs), no savepoint: a
    concurrent copy of the same webhook loses quietly. The ids of those inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return await inbound_pg.insert_messages(session, rows)
    return set((await session.execute(_INSERT[dialect], rows)).scalars())


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


async def _reply_targets(
    session: AsyncSession, *, account_id: str, inbound: Sequence[InboundMessage]
) -> dict[str, str]:
    """Provider id -> our message id, for the messages ``inbound`` answer."""
    wanted = sorted({m.reply_to_provider_id for m in inbound if m.reply_to_provider_id})
    if not wanted:
        return {}
    rows = await session.execute(
        select(Message.provider_message_id, Message.id).where(
            Message.account_id == account_id, Message.provider_message_id.in_(wanted)
        )
    )
    return {provider_id: message_id for provider_id, message_id in rows.all() if provider_id}


_RANDOM_BITS = 80  # a ULID: 48 bits of milliseconds, then 80 of randomness
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1
# Room per notification: a message's position in it (a notification holds at most
# MAX_BODY = 3 MB, under 50,000 messages).
_POSITION_BITS = 16


def ordered_ids(count: int, *, after: str | None = None) -> list[str]:
    """``count`` message ids in increasing order, derived from the ULID in the id
    ``after`` (a notification's: its messages sort by when it arrived, whichever
    filer stores them first), else from a new one.

    ULIDs made in one millisecond are consecutive (``core.ids`` counts up), so the
    ULID's random part moves ``_POSITION_BITS`` up and the position fills the bits
    freed: notifications kept one after another get disjoint, ordered ranges (the
    successors ``ulid + n`` of two consecutive ULIDs overlapped: a primary key
    clash that failed every notification of more than one message)."""
    if count > 1 << _POSITION_BITS:
        raise ValueError(f"{count} messages in one notification")
    value = ulid_value(after.rsplit("_", 1)[1]) if after else next_ulid()
    random = (value << _POSITION_BITS) & _RANDOM_MASK
    first = (value >> _RANDOM_BITS << _RANDOM_BITS) | random
    return [f"msg_{ulid_text(first + n)}" for n in range(count)]


def _row(
    account: ChannelAccount,
    inbound: InboundMessage,
    *,
    message_id: str,
    conversation_id: str,
    contact_id: str,
    reply_to: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "org_id": account.org_id,
        "account_id": account.id,
        "conversation_id": conversation_id,
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


# One statement for a batch's conversations (executemany), compiled once: the rows
# are locked (``opening.open_many``), so the values computed from them hold.
_CONVERSATIONS = cast(Table, Conversation.__table__)
_UPDATE_COUNTS = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("b_id"))
    .values(
        {
            name: bindparam(f"b_{name}")
            for name in (
                "first_inbound_at",
                "last_inbound_at",
                "last_activity_at",
                "message_count",
                "inbound_count",
                "updated_at",
            )
        }
    )
)


async def _file_in(
    session: AsyncSession,
    conversation: Conversation,
    arrived: Sequence[InboundMessage],
    *,
    now: datetime,
) -> dict[str, Any]:
    """The conversation's side of its stored inbound messages (in the order they came):
    replies and reopening; its new times and counts are returned, as parameters of
    ``_UPDATE_COUNTS``, and set on the loaded conversation as if read (no ORM flush
    of one UPDATE per conversation)."""
    if conversation.outbound_count:
        for message in arrived:
            await _mark_replied(session, conversation_id=conversation.id, at=message.at)
    await _reopen(session, conversation)
    first_at = arrived[0].at
    latest = max(message.at for message in arrived)
    values = {
        "first_inbound_at": conversation.first_inbound_at or first_at,
        "last_inbound_at": max(conversation.last_inbound_at or latest, latest),
        "last_activity_at": max(conversation.last_activity_at or latest, latest),
        "message_count": conversation.message_count + len(arrived),
        "inbound_count": conversation.inbound_count + len(arrived),
        "updated_at": now,
    }
    for name, value in values.items():
        set_committed_value(conversation, name, value)
    return {"b_id": conversation.id, **{f"b_{name}": value for name, value in values.items()}}


def _received(row: dict[str, Any]) -> dict[str, Any]:
    """``message.received``'s payload (``statuses.payload``) of an inserted row."""
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "account_id": row["account_id"],
        "contact_id": row["contact_id"],
        "direction": row["direction"],
        "author_role": row["author_role"],
        "content_type": row["content_type"],
        "status": row["status"],
        "campaign_id": None,
        "error_code": None,
        "error_message": None,
    }


def _fresh(stored: set[str], inbound: Sequence[InboundMessage]) -> list[int]:
    """Positions in ``inbound`` of the messages to store: not stored before, and the
    first of any provider id repeated in the batch."""
    positions = []
    for position, message in enumerate(inbound):
        provider_id = message.provider_message_id
        if provider_id:
            if provider_id in stored:
                continue
            stored.add(provider_id)
        positions.append(position)
    return positions


async def receive_many(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    inbound: Sequence[InboundMessage],
    ids: Sequence[str] | None = None,
) -> list[str | None]:
    """Store contacts' messages to ``account`` in order, in a few statements per batch
    (one per table): the stored messages' ids, None in place of each whose provider
    message id was stored before (or came earlier in the batch). ``ids``: the
    messages' ids, one for each of ``inbound`` (increasing ids by default)."""
    ids = list(ids) if ids is not None else ordered_ids(len(inbound))
    results: list[str | None] = [None] * len(inbound)
    stored = await _stored_provider_ids(
        session,
        account_id=account.id,
        provider_ids={m.provider_message_id for m in inbound if m.provider_message_id},
    )
    positions = _fresh(stored, inbound)
    if not positions:
        return results
    arriving = [inbound[position] for position in positions]
    contact_ids = await contact_matching.match_contacts(
        session, org_id=account.org_id, account_id=account.id, inbound=arriving
    )
    conversations = await opening.open_many(
        session, account=account, contact_ids=contact_ids, inbound=arriving
    )
    reply_to = await _reply_targets(session, account_id=account.id, inbound=arriving)
    now = utcnow()
    rows = [
        _row(
            account,
            message,
            message_id=message_id,
            conversation_id=conversations[contact_id].id,
            contact_id=contact_id,
            reply_to=reply_to.get(message.reply_to_provider_id or ""),
            now=now,
        )
        for message_id, contact_id, message in zip(
            [ids[position] for position in positions], contact_ids, arriving, strict=True
        )
    ]
    inserted = await _insert_new(session, rows)
    filed: list[dict[str, Any]] = []
    by_conversation: dict[str, list[InboundMessage]] = {}
    for position, row, message in zip(positions, rows, arriving, strict=True):
        if row["id"] not in inserted:
            continue  # the same webhook, delivered twice at once
        results[position] = row["id"]
        filed.append(row)
        by_conversation.setdefault(row["conversation_id"], []).append(message)
    by_id = {conversation.id: conversation for conversation in conversations.values()}
    counted = [
        await _file_in(session, by_id[conversation_id], arrived, now=now)
        for conversation_id, arrived in by_conversation.items()
    ]
    if counted and session.get_bind().dialect.name == "postgresql":
        await inbound_pg.update_counts(session, counted)
    elif counted:
        await session.execute(_UPDATE_COUNTS, counted)
    await fulltext.index_rows(session, [(row["id"], row["org_id"], row["body"]) for row in filed])
    await outbox.record_many(
        session, events.MESSAGE_RECEIVED, [_received(row) for row in filed], org_id=account.org_id
    )
    for stopping in filed:
        if opt_outs.is_stop(stopping["body"]):
            await opt_outs.opt_out(
                session,
                org_id=account.org_id,
                contact_id=stopping["contact_id"],
                source=OptOutSource.STOP_REPLY,
                account_id=account.id,
                message_id=stopping["id"],
            )
    return results


async def receive(
    session: AsyncSession, *, account: ChannelAccount, inbound: InboundMessage
) -> str | None:
    """Store a contact's message; its id, None if this provider message id was stored
    before."""
    [message_id] = await receive_many(session, account=account, inbound=[inbound])
    return message_id


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
    message_id = await receive(
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
    if message_id is None:  # posted twice at the same moment
        raise AlreadyExists("This provider_message_id was just stored")
    stored = await session.get(Message, message_id)
    assert stored is not None  # inserted by this transaction
    return stored
