"""Conversations: list and read them, assign, change status, label, annotate and rate
them, keep private notes, and read their messages.

Who sees what: a user (or a user's API key) every conversation of the
organization; an agent session those assigned to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import json_array_contains
from commbase.core.errors import NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.identity import service as identity_service
from commbase.identity.agent_sessions import service as agent_sessions_service
from commbase.messaging import events, fulltext
from commbase.messaging.enums import ChannelKind, ConversationStatus
from commbase.messaging.models import Conversation, ConversationNote, Message
from commbase.messaging.opening import conversation_payload
from commbase.messaging.schemas import (
    Assignment,
    ConversationUpdate,
    LabelChange,
    NoteCreate,
    StatusChange,
)

MAX_LABELS = 50


def _visible(*, org_id: str, agent_session_id: str | None) -> Select[Conversation]:
    statement = select(Conversation).where(Conversation.org_id == org_id)
    if agent_session_id is not None:
        statement = statement.where(Conversation.assignee_agent_session_id == agent_session_id)
    return statement


async def get_conversation(
    session: AsyncSession,
    *,
    org_id: str,
    conversation_id: str,
    agent_session_id: str | None = None,
    for_update: bool = False,
) -> Conversation:
    statement = _visible(org_id=org_id, agent_session_id=agent_session_id).where(
        Conversation.id == conversation_id
    )
    if for_update:
        statement = statement.with_for_update()
    conversation = await session.scalar(statement)
    if conversation is None:
        raise NotFound("Conversation not found")
    return conversation


async def list_conversations(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    agent_session_id: str | None = None,
    status: ConversationStatus | None = None,
    assignee_user_id: str | None = None,
    assignee_agent_session_id: str | None = None,
    unassigned: bool | None = None,
    label: str | None = None,
    account_id: str | None = None,
    channel: ChannelKind | None = None,
    contact_id: str | None = None,
) -> tuple[Sequence[Conversation], str | None]:
    """One page of conversations, newest first, by the filters given."""
    statement = _visible(org_id=org_id, agent_session_id=agent_session_id)
    if status is not None:
        statement = statement.where(Conversation.status == status)
    if assignee_user_id:
        statement = statement.where(Conversation.assignee_user_id == assignee_user_id)
    if assignee_agent_session_id:
        statement = statement.where(
            Conversation.assignee_agent_session_id == assignee_agent_session_id
        )
    if unassigned is not None:
        nobody = (Conversation.assignee_user_id.is_(None)) & (
            Conversation.assignee_agent_session_id.is_(None)
        )
        statement = statement.where(nobody if unassigned else ~nobody)
    if label:
        labels = type_coerce(Conversation.labels, JSONB)
        dialect = session.get_bind().dialect.name
        statement = statement.where(json_array_contains(labels, label, dialect=dialect))
    if account_id:
        statement = statement.where(Conversation.account_id == account_id)
    if channel is not None:
        statement = statement.where(Conversation.channel == channel)
    if contact_id:
        statement = statement.where(Conversation.contact_id == contact_id)
    return await paginate(session, statement, id_column=Conversation.id, params=params)


async def change_status(
    session: AsyncSession, *, conversation: Conversation, change: StatusChange, now: datetime
) -> Conversation:
    """Open, park (pending), snooze or resolve the conversation."""
    previous = conversation.status
    if change.status == previous and change.snoozed_until == conversation.snoozed_until:
        return conversation
    if change.snoozed_until is not None and change.snoozed_until <= now:
        raise invalid("snoozed_until must be in the future", "snoozed_until")
    conversation.status = change.status
    conversation.snoozed_until = change.snoozed_until
    if change.status == ConversationStatus.RESOLVED:
        conversation.resolved_at = now
        conversation.resolution_seconds = int((now - conversation.created_at).total_seconds())
        # Resolved: the contact's next message opens a new conversation.
        conversation.active_contact_key = None
    elif previous == ConversationStatus.RESOLVED:
        await _reactivate(session, conversation)
    await outbox.record(
        session,
        events.CONVERSATION_STATUS_CHANGED,
        conversation_payload(conversation, previous_status=previous),
        org_id=conversation.org_id,
    )
    return conversation


async def _reactivate(session: AsyncSession, conversation: Conversation) -> None:
    """Reopen a resolved conversation, unless the contact has another one open."""
    other = await session.scalar(
        select(Conversation.id).where(
            Conversation.account_id == conversation.account_id,
            Conversation.active_contact_key == conversation.contact_id,
        )
    )
    if other is not None:
        raise invalid(
            f"the contact already has an unresolved conversation on this account ({other})",
            "status",
        )
    conversation.active_contact_key = conversation.contact_id


async def assign(
    session: AsyncSession, *, conversation: Conversation, assignment: Assignment
) -> Conversation:
    """Assign to a member or an agent session of the organization, or unassign."""
    org_id = conversation.org_id
    if assignment.user_id:
        try:
            await identity_service.get_member_user(
                session, org_id=org_id, user_id=assignment.user_id
            )
        except NotFound as exc:
            raise invalid("user_id is not a member of this organization", "user_id") from exc
    if assignment.agent_session_id:
        try:
            await agent_sessions_service.get_session(
                session, org_id=org_id, session_id=assignment.agent_session_id
            )
        except NotFound as exc:
            raise invalid(
                "agent_session_id is not an agent session of this organization",
                "agent_session_id",
            ) from exc
    conversation.assignee_user_id = assignment.user_id
    conversation.assignee_agent_session_id = assignment.agent_session_id
    await outbox.record(
        session,
        events.CONVERSATION_ASSIGNED,
        conversation_payload(conversation),
        org_id=org_id,
    )
    return conversation


async def change_labels(
    session: AsyncSession, *, conversation: Conversation, change: LabelChange
) -> Conversation:
    labels = [label for label in conversation.labels if label not in change.remove]
    labels += [label for label in change.add if label not in labels]
    if len(labels) > MAX_LABELS:
        raise invalid(f"a conversation holds at most {MAX_LABELS} labels", "add")
    conversation.labels = labels
    await session.flush()
    return conversation


async def update_conversation(
    session: AsyncSession, *, conversation: Conversation, changes: ConversationUpdate, now: datetime
) -> Conversation:
    """Priority, analysis, outcome and satisfaction; ``metadata`` merges key by key."""
    data: dict[str, Any] = changes.model_dump(mode="json", exclude_unset=True)
    if "metadata" in data:
        merged = {**conversation.metadata_, **(data.pop("metadata") or {})}
        conversation.metadata_ = {k: v for k, v in merged.items() if v is not None}
    if data.get("satisfaction_rating") is not None:
        if conversation.status != ConversationStatus.RESOLVED:
            raise invalid("a conversation is rated once it is resolved", "satisfaction_rating")
        conversation.rated_at = now
    for field, value in data.items():
        setattr(conversation, field, value)
    await session.flush()
    return conversation


async def add_note(
    session: AsyncSession,
    *,
    conversation: Conversation,
    data: NoteCreate,
    author_user_id: str | None,
    author_agent_session_id: str | None,
) -> ConversationNote:
    note = ConversationNote(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        author_user_id=author_user_id,
        author_agent_session_id=author_agent_session_id,
        body=data.body,
    )
    session.add(note)
    await session.flush()
    return note


async def list_notes(
    session: AsyncSession, *, conversation: Conversation, params: PageParams
) -> tuple[Sequence[ConversationNote], str | None]:
    statement = select(ConversationNote).where(
        ConversationNote.org_id == conversation.org_id,
        ConversationNote.conversation_id == conversation.id,
    )
    return await paginate(session, statement, id_column=ConversationNote.id, params=params)


async def list_messages(
    session: AsyncSession, *, conversation: Conversation, params: PageParams
) -> tuple[Sequence[Message], str | None]:
    """The conversation's messages, newest first."""
    statement = select(Message).where(
        Message.org_id == conversation.org_id, Message.conversation_id == conversation.id
    )
    return await paginate(session, statement, id_column=Message.id, params=params)


async def get_message(session: AsyncSession, *, org_id: str, message_id: str) -> Message:
    message = await session.scalar(
        select(Message).where(Message.org_id == org_id, Message.id == message_id)
    )
    if message is None:
        raise NotFound("Message not found")
    return message


async def search_messages(
    session: AsyncSession,
    *,
    org_id: str,
    query: str,
    params: PageParams,
    agent_session_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Messages whose text holds every word of ``query``, newest first."""
    within = None
    if agent_session_id is not None:
        within = select(Conversation.id).where(
            Conversation.org_id == org_id,
            Conversation.assignee_agent_session_id == agent_session_id,
        )
    return await fulltext.search(
        session, org_id=org_id, query=query, params=params, conversation_ids=within
    )
