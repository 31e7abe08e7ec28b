"""Messaging's part in GDPR requests and retention.

* A contact's conversations -- their messages and private notes -- are exported
  with the contact and erased with it (deleted, and their text dropped from the
  search index); so is an opt-out.
* A member (user) is in messaging as the author of outbound messages and notes and
  as an assignee: exported are the messages and notes they wrote and the
  conversations assigned to them; erasing them puts the erasure's reference in
  place of their id and unassigns them (what they wrote stays with the contact's
  conversation).
* ``message_bodies``: what a message says (body, media link, template
  parameters, metadata) is emptied after 365 days by default, or the
  organization's own period; the message row stays for analytics, marked
  ``erased_at``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core.db import rowcount
from commbase.core.literals import listed
from commbase.core.time import utcnow
from commbase.messaging import fulltext
from commbase.messaging.metrics import CONVERSATIONS, MESSAGES
from commbase.messaging.models import Conversation, ConversationNote, Message, OptOut
from commbase.privacy.records import as_records
from commbase.privacy.registry import RetentionWindow, register_retention, register_subject

TABLES = {"conversations", "messages", "conversation_notes", "messaging_opt_outs"}
DEFAULT_BODY_DAYS = 365


def _of_contact(org_id: str, contact_id: str) -> Any:
    return select(Conversation.id).where(
        Conversation.org_id == org_id, Conversation.contact_id == contact_id
    )


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    ids = _of_contact(org_id, subject_id)
    conversations = await session.scalars(
        select(Conversation).where(Conversation.id.in_(ids)).order_by(Conversation.id)
    )
    messages = await session.scalars(
        select(Message)
        .where(Message.org_id == org_id, Message.conversation_id.in_(ids))
        .order_by(Message.id)
    )
    notes = await session.scalars(
        select(ConversationNote)
        .where(ConversationNote.org_id == org_id, ConversationNote.conversation_id.in_(ids))
        .order_by(ConversationNote.id)
    )
    opt_outs = await session.scalars(
        select(OptOut).where(OptOut.org_id == org_id, OptOut.contact_id == subject_id)
    )
    return {
        "conversations": as_records(conversations),
        "messages": as_records(messages),
        "conversation_notes": as_records(notes),
        "messaging_opt_outs": as_records(opt_outs),
    }


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    opened = (
        await session.execute(
            select(Conversation.id, Conversation.created_at).where(
                Conversation.org_id == org_id, Conversation.contact_id == subject_id
            )
        )
    ).all()
    ids = [conversation_id for conversation_id, _ in opened]
    written = (
        await session.execute(
            select(Message.id, Message.created_at).where(
                Message.org_id == org_id, Message.conversation_id.in_(ids)
            )
        )
    ).all()
    message_ids = [message_id for message_id, _ in written]
    # Rollups stop counting the deleted facts (their hours read raw until refolded).
    await touches.touch(
        session, org_id=org_id, source=CONVERSATIONS, times=[at for _, at in opened]
    )
    await touches.touch(session, org_id=org_id, source=MESSAGES, times=[at for _, at in written])
    await fulltext.unindex(session, message_ids)
    notes = await session.execute(
        delete(ConversationNote).where(
            ConversationNote.org_id == org_id, ConversationNote.conversation_id.in_(ids)
        )
    )
    messages = await session.execute(
        delete(Message).where(Message.org_id == org_id, Message.conversation_id.in_(ids))
    )
    conversations = await session.execute(
        delete(Conversation).where(Conversation.org_id == org_id, Conversation.id.in_(ids))
    )
    opt_outs = await session.execute(
        delete(OptOut).where(OptOut.org_id == org_id, OptOut.contact_id == subject_id)
    )
    return {
        "conversations": rowcount(conversations),
        "messages": rowcount(messages),
        "conversation_notes": rowcount(notes),
        "messaging_opt_outs": rowcount(opt_outs),
    }


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    messages = await session.scalars(
        select(Message)
        .where(Message.org_id == org_id, Message.sender_user_id == subject_id)
        .order_by(Message.id)
    )
    notes = await session.scalars(
        select(ConversationNote)
        .where(ConversationNote.org_id == org_id, ConversationNote.author_user_id == subject_id)
        .order_by(ConversationNote.id)
    )
    assigned = await session.scalars(
        select(Conversation)
        .where(Conversation.org_id == org_id, Conversation.assignee_user_id == subject_id)
        .order_by(Conversation.id)
    )
    return {
        "messages": as_records(messages),
        "conversation_notes": as_records(notes),
        "conversations": as_records(assigned),
    }


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    messages = await session.execute(
        update(Message)
        .where(Message.org_id == org_id, Message.sender_user_id == subject_id)
        .values(sender_user_id=reference)
        .execution_options(synchronize_session=False)
    )
    notes = await session.execute(
        update(ConversationNote)
        .where(ConversationNote.org_id == org_id, ConversationNote.author_user_id == subject_id)
        .values(author_user_id=reference)
        .execution_options(synchronize_session=False)
    )
    conversations = await session.execute(
        update(Conversation)
        .where(Conversation.org_id == org_id, Conversation.assignee_user_id == subject_id)
        # An assignee is a dimension conversation metrics read ("agent").
        .values(assignee_user_id=None, facts_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return {
        "messages": rowcount(messages),
        "conversation_notes": rowcount(notes),
        "conversations": rowcount(conversations),
    }


async def purge_message_bodies(
    session: AsyncSession, *, window: RetentionWindow, limit: int
) -> int:
    """Empty the content of messages older than their organization's period."""
    ids = list(
        await session.scalars(
            select(Message.id)
            .where(
                Message.erased_at.is_(None),
                window.older_than(Message.org_id, Message.created_at),
            )
            .order_by(Message.id)
            .limit(limit)
        )
    )
    if ids:
        await fulltext.unindex(session, ids)
        await session.execute(
            update(Message)
            .where(listed(Message.id, "ids"))  # the batch as one list parameter
            .values(
                body=None,
                media_url=None,
                template_parameters=[],
                metadata_={},
                erased_at=utcnow(),
            )
            .execution_options(synchronize_session=False),
            {"ids": ids},
        )
    return len(ids)


# Before contacts (order 500), which deletes the contact itself.
register_subject(
    "messaging",
    "contact",
    tables=TABLES,
    export=export_contact,
    erase=erase_contact,
    order=300,
)
register_subject(
    "messaging", "user", tables=TABLES, export=export_user, erase=erase_user, order=300
)
register_retention(
    "message_bodies",
    default_days=DEFAULT_BODY_DAYS,
    purge=purge_message_bodies,
    description="What messages say (body, media link, template parameters, metadata)",
    per_organization=True,
)
