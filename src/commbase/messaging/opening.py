"""Conversations opened for contacts writing in: one at a time, or a batch's at once.

A contact has at most one unresolved conversation per channel account (the unique
``(account_id, active_contact_key)``). ``open_conversation`` returns it, locked, or
opens one (a savepoint; a concurrent opener's wins); ``open_many`` does the same for
a batch of contacts in three statements: the existing ones locked in id order, the
missing ones inserted together in contact order with ``ON CONFLICT DO NOTHING`` (so
concurrent filers wait for each other in one order instead of deadlocking), then
read back locked. ``conversation.created`` is recorded for each one opened here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.messaging import contact_matching, events
from commbase.messaging.enums import ConversationStatus, Priority
from commbase.messaging.models import ChannelAccount, Conversation
from commbase.messaging.providers.base import InboundMessage


def _insert_statement(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(Conversation.__table__)
        .on_conflict_do_nothing(index_elements=["account_id", "active_contact_key"])
        .returning(Conversation.__table__.c.id)
    )


# Compiled once; executed with a batch's rows (sent as multi-row INSERTs).
_INSERT = {dialect: _insert_statement(dialect) for dialect in ("postgresql", "sqlite")}


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


def _conversation_row(
    account: ChannelAccount, contact_id: str, message: InboundMessage, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id("conv"),
        "org_id": account.org_id,
        "account_id": account.id,
        "contact_id": contact_id,
        "active_contact_key": contact_id,
        "channel": account.kind,
        "session_id": message.session_id,
        "client_phone": contact_matching.e164(message.from_phone),
        "client_email": message.from_email,
        "client_name": message.from_name,
        "status": ConversationStatus.OPEN,
        "labels": [],
        "priority": Priority.NONE,
        "last_activity_at": message.at,
        "message_count": 0,
        "inbound_count": 0,
        "outbound_count": 0,
        "tags": [],
        "booking_details": {},
        "escalated_to_human": False,
        "metadata": {},
        "created_at": now,
        "updated_at": now,
        "facts_changed_at": now,
    }


async def _locked(
    session: AsyncSession, *, account_id: str, contact_ids: set[str]
) -> dict[str, Conversation]:
    """Contact id -> its unresolved conversation on the account, locked in id order."""
    rows = await session.scalars(
        select(Conversation)
        .where(
            Conversation.account_id == account_id,
            Conversation.active_contact_key.in_(sorted(contact_ids)),
        )
        .order_by(Conversation.id)
        .with_for_update()
    )
    return {row.active_contact_key or "": row for row in rows}


async def open_many(
    session: AsyncSession,
    *,
    account: ChannelAccount,
    contact_ids: list[str],
    inbound: Sequence[InboundMessage],
) -> dict[str, Conversation]:
    """Contact id -> its unresolved conversation on the account (locked), opened for
    those without one: one ``INSERT ... ON CONFLICT DO NOTHING`` in contact order (a
    concurrent filer that opened one first wins; its conversation is read back), and
    ``conversation.created`` for each opened here."""
    found = await _locked(session, account_id=account.id, contact_ids=set(contact_ids))
    first: dict[str, InboundMessage] = {}
    for contact_id, message in zip(contact_ids, inbound, strict=True):
        if contact_id not in found:
            first.setdefault(contact_id, message)
    if not first:
        return found
    now = utcnow()
    rows = [_conversation_row(account, key, first[key], now) for key in sorted(first)]
    statement = _INSERT[session.get_bind().dialect.name]
    opened = set((await session.execute(statement, rows)).scalars())
    found.update(await _locked(session, account_id=account.id, contact_ids=set(first)))
    missing = set(first) - set(found)
    if missing:  # resolved by someone else between the insert and the read: open again
        for contact_id in sorted(missing):
            message = first[contact_id]
            found[contact_id] = await open_conversation(
                session,
                account=account,
                contact_id=contact_id,
                at=message.at,
                client_phone=contact_matching.e164(message.from_phone),
                client_email=message.from_email,
                client_name=message.from_name,
                session_id=message.session_id,
            )
    await outbox.record_many(
        session,
        events.CONVERSATION_CREATED,
        [
            conversation_payload(conversation)
            for conversation in sorted(found.values(), key=lambda c: c.id)
            if conversation.id in opened
        ],
        org_id=account.org_id,
    )
    return found
