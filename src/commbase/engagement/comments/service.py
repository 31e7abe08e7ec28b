"""Comments: members comment on their organization's calls and tickets; an author edits
and deletes their own, an owner or admin deletes anyone's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import service as calls_service
from commbase.core import outbox
from commbase.core.errors import NotFound, PermissionDenied
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.comments import events
from commbase.engagement.comments.models import Comment
from commbase.engagement.support.models import SupportTicket

MODERATORS = frozenset({"owner", "admin"})


def _payload(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "author_id": comment.author_id,
        "call_id": comment.call_id,
        "ticket_id": comment.ticket_id,
    }


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
) -> Comment:
    await _require_target(session, org_id=org_id, call_id=call_id, ticket_id=ticket_id)
    comment = Comment(
        org_id=org_id, call_id=call_id, ticket_id=ticket_id, author_id=author_id, body=body
    )
    session.add(comment)
    await session.flush()
    await outbox.record(session, events.COMMENT_CREATED, _payload(comment), org_id=org_id)
    return comment


async def list_comments(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    call_id: str | None = None,
    ticket_id: str | None = None,
) -> tuple[Sequence[Comment], str | None]:
    """Newest first, a page at a time; NotFound if the call or ticket is not this org's."""
    await _require_target(session, org_id=org_id, call_id=call_id, ticket_id=ticket_id)
    statement = select(Comment).where(Comment.org_id == org_id)
    if call_id is not None:
        statement = statement.where(Comment.call_id == call_id)
    else:
        statement = statement.where(Comment.ticket_id == ticket_id)
    return await paginate(session, statement, id_column=Comment.id, params=params)


async def get(session: AsyncSession, *, org_id: str, comment_id: str) -> Comment:
    comment = await session.scalar(
        select(Comment).where(Comment.org_id == org_id, Comment.id == comment_id)
    )
    if comment is None:
        raise NotFound("Comment not found")
    return comment


async def edit(
    session: AsyncSession, *, org_id: str, comment_id: str, user_id: str, body: str
) -> Comment:
    """Only the author edits a comment (403 for anyone else)."""
    comment = await get(session, org_id=org_id, comment_id=comment_id)
    if comment.author_id != user_id:
        raise PermissionDenied("Only the author can edit a comment")
    comment.body = body
    comment.edited_at = utcnow()
    await session.flush()
    await outbox.record(session, events.COMMENT_UPDATED, _payload(comment), org_id=org_id)
    return comment


async def delete(
    session: AsyncSession, *, org_id: str, comment_id: str, user_id: str, role: str | None
) -> None:
    """The author deletes their comment; an owner or admin deletes any."""
    comment = await get(session, org_id=org_id, comment_id=comment_id)
    if comment.author_id != user_id and role not in MODERATORS:
        raise PermissionDenied("Only the author or an admin can delete a comment")
    await outbox.record(session, events.COMMENT_DELETED, _payload(comment), org_id=org_id)
    await session.delete(comment)
    await session.flush()
