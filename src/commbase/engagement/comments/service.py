"""Comments: members comment on their organization's calls and tickets; an author edits
and deletes their own, an owner or admin deletes anyone's.

Threads are one level deep: a reply names a first comment (``parent_id``) on the same
call or ticket; a reply to a reply is refused (422), so a client replies to the
thread's first comment. Deleting a first comment deletes its replies (each announced).
Mentions are member ids; each newly mentioned member (not the author) gets a
``comment.mentioned`` event, for webhooks to notify them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import service as calls_service
from commbase.core import outbox
from commbase.core.errors import NotFound, PermissionDenied, ValidationFailed
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.comments import events
from commbase.engagement.comments.models import Comment
from commbase.engagement.support.models import SupportTicket
from commbase.identity import service as identity_service

MODERATORS = frozenset({"owner", "admin"})


def _payload(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "author_id": comment.author_id,
        "call_id": comment.call_id,
        "ticket_id": comment.ticket_id,
        "parent_id": comment.parent_id,
    }


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, errors=[{"loc": ["body", field], "field": field, "message": message}]
    )


async def _check_mentions(session: AsyncSession, *, org_id: str, mentions: list[str]) -> list[str]:
    """The mentioned ids, once each in the order given; 422 unless each is a member."""
    unique = list(dict.fromkeys(mentions))
    for user_id in unique:
        try:
            await identity_service.get_member_user(session, org_id=org_id, user_id=user_id)
        except NotFound:
            raise _invalid("mentions", f"{user_id} is not a member of this organization") from None
    return unique


async def _announce_mentions(session: AsyncSession, comment: Comment, user_ids: list[str]) -> None:
    for user_id in user_ids:
        if user_id != comment.author_id:
            await outbox.record(
                session,
                events.COMMENT_MENTIONED,
                {**_payload(comment), "mentioned_user_id": user_id},
                org_id=comment.org_id,
            )


async def _check_parent(
    session: AsyncSession,
    *,
    org_id: str,
    parent_id: str,
    call_id: str | None,
    ticket_id: str | None,
) -> None:
    """422 unless ``parent_id`` is a first comment on the same call or ticket."""
    parent = await session.scalar(
        select(Comment).where(Comment.org_id == org_id, Comment.id == parent_id)
    )
    if parent is None or (parent.call_id, parent.ticket_id) != (call_id, ticket_id):
        raise _invalid("parent_id", "parent_id names no comment on this call or ticket")
    if parent.parent_id is not None:
        raise _invalid("parent_id", "Threads are one level deep: reply to the first comment")


async def _require_target(
    session: AsyncSession, *, org_id: str, call_id: str | None, ticket_id: str | None
) -> None:
    """NotFound unless the call or ticket is this organization's."""
    if call_id is not None:
        await calls_service.require_call(session, org_id=org_id, call_id=call_id)
    else:
        found = await session.scalar(
            select(SupportTicket.id).where(
                SupportTicket.org_id == org_id, SupportTicket.id == ticket_id
            )
        )
        if found is None:
            raise NotFound("Ticket not found")


async def create(
    session: AsyncSession,
    *,
    org_id: str,
    author_id: str,
    body: str,
    call_id: str | None = None,
    ticket_id: str | None = None,
    parent_id: str | None = None,
    mentions: list[str] | None = None,
) -> Comment:
    await _require_target(session, org_id=org_id, call_id=call_id, ticket_id=ticket_id)
    if parent_id is not None:
        await _check_parent(
            session, org_id=org_id, parent_id=parent_id, call_id=call_id, ticket_id=ticket_id
        )
    mentioned = await _check_mentions(session, org_id=org_id, mentions=mentions or [])
    comment = Comment(
        org_id=org_id,
        call_id=call_id,
        ticket_id=ticket_id,
        author_id=author_id,
        body=body,
        parent_id=parent_id,
        mentions=mentioned,
    )
    session.add(comment)
    await session.flush()
    await outbox.record(session, events.COMMENT_CREATED, _payload(comment), org_id=org_id)
    await _announce_mentions(session, comment, mentioned)
    return comment


async def list_comments(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    call_id: str | None = None,
    ticket_id: str | None = None,
    parent_id: str | None = None,
    top_level: bool | None = None,
) -> tuple[Sequence[Comment], str | None]:
    """Newest first, a page at a time; NotFound if the call or ticket is not this org's.
    ``parent_id`` lists one thread's replies; ``top_level`` only first comments (true)
    or only replies (false)."""
    await _require_target(session, org_id=org_id, call_id=call_id, ticket_id=ticket_id)
    statement = select(Comment).where(Comment.org_id == org_id)
    if call_id is not None:
        statement = statement.where(Comment.call_id == call_id)
    else:
        statement = statement.where(Comment.ticket_id == ticket_id)
    if parent_id is not None:
        statement = statement.where(Comment.parent_id == parent_id)
    if top_level is not None:
        statement = statement.where(
            Comment.parent_id.is_(None) if top_level else Comment.parent_id.is_not(None)
        )
    return await paginate(session, statement, id_column=Comment.id, params=params)


async def get(session: AsyncSession, *, org_id: str, comment_id: str) -> Comment:
    comment = await session.scalar(
        select(Comment).where(Comment.org_id == org_id, Comment.id == comment_id)
    )
    if comment is None:
        raise NotFound("Comment not found")
    return comment


async def edit(
    session: AsyncSession,
    *,
    org_id: str,
    comment_id: str,
    user_id: str,
    body: str,
    mentions: list[str] | None = None,
) -> Comment:
    """Only the author edits a comment (403 for anyone else); new mentions are announced."""
    comment = await get(session, org_id=org_id, comment_id=comment_id)
    if comment.author_id != user_id:
        raise PermissionDenied("Only the author can edit a comment")
    added: list[str] = []
    if mentions is not None:
        mentioned = await _check_mentions(session, org_id=org_id, mentions=mentions)
        added = [m for m in mentioned if m not in comment.mentions]
        comment.mentions = mentioned
    comment.body = body
    comment.edited_at = utcnow()
    await session.flush()
    await outbox.record(session, events.COMMENT_UPDATED, _payload(comment), org_id=org_id)
    await _announce_mentions(session, comment, added)
    return comment


async def delete(
    session: AsyncSession, *, org_id: str, comment_id: str, user_id: str, role: str | None
) -> None:
    """The author deletes their comment; an owner or admin deletes any. A first
    comment's replies go with it."""
    comment = await get(session, org_id=org_id, comment_id=comment_id)
    if comment.author_id != user_id and role not in MODERATORS:
        raise PermissionDenied("Only the author or an admin can delete a comment")
    replies = (
        await session.scalars(
            select(Comment)
            .where(Comment.org_id == org_id, Comment.parent_id == comment.id)
            .order_by(Comment.id)
        )
    ).all()
    for gone in (*replies, comment):
        await outbox.record(session, events.COMMENT_DELETED, _payload(gone), org_id=org_id)
        await session.delete(gone)
        await session.flush()
