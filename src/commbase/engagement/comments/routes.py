"""Comments API (seed 000 ``/api/comments``): members comment on calls and tickets.

``/v1/calls/{call_id}/comments`` and ``/v1/support/tickets/{ticket_id}/comments``
create and list (``parent_id`` replies in a thread; lists filter by ``parent_id`` and
``top_level``); ``/v1/comments/{comment_id}`` reads, edits (author) and deletes
(author, or an owner or admin). ``mentions`` @mention members (``comment.mentioned``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import CurrentPrincipal, Principal
from commbase.core.db import DbSession
from commbase.core.errors import PermissionDenied
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.comments import service
from commbase.engagement.comments.models import Comment
from commbase.engagement.comments.schemas import CommentCreate, CommentRead, CommentUpdate

router = APIRouter(tags=["comments"])
ParentFilter = Annotated[
    str | None, Query(max_length=40, description="Only the replies to this comment")
]
TopLevel = Annotated[
    bool | None, Query(description="true: only first comments; false: only replies")
]


def _member(principal: Principal, scope: Scope) -> str:
    """The calling member: comments are written by users, not by bare API keys."""
    principal.require(scope)
    if principal.user_id is None:
        raise PermissionDenied("Comments are written by a member; this credential acts for none")
    return principal.user_id


def _page(rows: Any, cursor: str | None) -> Page[CommentRead]:
    return Page(data=[CommentRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/v1/calls/{call_id}/comments", response_model=CommentRead, status_code=status.HTTP_201_CREATED
)
async def comment_on_call(
    call_id: PathId, body: CommentCreate, principal: CurrentPrincipal, session: DbSession
) -> Comment:
    author = _member(principal, Scope.ENGAGEMENT_WRITE)
    return await service.create(
        session,
        org_id=principal.org_id,
        author_id=author,
        body=body.body,
        call_id=call_id,
        parent_id=body.parent_id,
        mentions=body.mentions,
    )


@router.get("/v1/calls/{call_id}/comments", response_model=Page[CommentRead])
async def list_call_comments(
    call_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    parent_id: ParentFilter = None,
    top_level: TopLevel = None,
) -> Page[CommentRead]:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_comments(
        session,
        org_id=principal.org_id,
        params=page,
        call_id=call_id,
        parent_id=parent_id,
        top_level=top_level,
    )
    return _page(rows, cursor)


@router.post(
    "/v1/support/tickets/{ticket_id}/comments",
    response_model=CommentRead,
    status_code=status.HTTP_201_CREATED,
)
async def comment_on_ticket(
    ticket_id: PathId, body: CommentCreate, principal: CurrentPrincipal, session: DbSession
) -> Comment:
    author = _member(principal, Scope.ENGAGEMENT_WRITE)
    return await service.create(
        session,
        org_id=principal.org_id,
        author_id=author,
        body=body.body,
        ticket_id=ticket_id,
        parent_id=body.parent_id,
        mentions=body.mentions,
    )


@router.get("/v1/support/tickets/{ticket_id}/comments", response_model=Page[CommentRead])
async def list_ticket_comments(
    ticket_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    parent_id: ParentFilter = None,
    top_level: TopLevel = None,
) -> Page[CommentRead]:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_comments(
        session,
        org_id=principal.org_id,
        params=page,
        ticket_id=ticket_id,
        parent_id=parent_id,
        top_level=top_level,
    )
    return _page(rows, cursor)


@router.get("/v1/comments/{comment_id}", response_model=CommentRead)
async def get_comment(
    comment_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Comment:
    principal.require(Scope.ENGAGEMENT_READ)
    return await service.get(session, org_id=principal.org_id, comment_id=comment_id)


@router.patch("/v1/comments/{comment_id}", response_model=CommentRead)
async def edit_comment(
    comment_id: PathId, body: CommentUpdate, principal: CurrentPrincipal, session: DbSession
) -> Comment:
    """The author changes the text (403 for anyone else); ``edited_at`` is set."""
    user_id = _member(principal, Scope.ENGAGEMENT_WRITE)
    return await service.edit(
        session,
        org_id=principal.org_id,
        comment_id=comment_id,
        user_id=user_id,
        body=body.body,
        mentions=body.mentions,
    )


@router.delete("/v1/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_comment(
    comment_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> None:
    """The author deletes their comment; an owner or admin deletes anyone's."""
    user_id = _member(principal, Scope.ENGAGEMENT_WRITE)
    await service.delete(
        session,
        org_id=principal.org_id,
        comment_id=comment_id,
        user_id=user_id,
        role=principal.role,
    )
