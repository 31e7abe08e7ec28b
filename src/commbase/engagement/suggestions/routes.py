"""Community suggestions API (seed 002 ``suggestions.js``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.errors import PermissionDenied
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.suggestions import service
from commbase.engagement.suggestions.enums import (
    SuggestionCategory,
    SuggestionSort,
    SuggestionStatus,
    VoteValue,
)
from commbase.engagement.suggestions.models import Suggestion, SuggestionComment
from commbase.engagement.suggestions.schemas import (
    CommentCreate,
    CommentRead,
    SuggestionCreate,
    SuggestionRead,
    SuggestionUpdate,
    VoteCast,
)

router = APIRouter(prefix="/v1/suggestions", tags=["suggestions"])


def _read(suggestion: Suggestion, vote: VoteValue = VoteValue.NONE) -> SuggestionRead:
    return SuggestionRead.model_validate(
        {
            **{c.key: getattr(suggestion, c.key) for c in Suggestion.__table__.columns},
            "my_vote": vote,
        }
    )


async def _with_my_vote(
    session: DbSession, principal: CurrentPrincipal, suggestion: Suggestion
) -> SuggestionRead:
    votes = await service.votes_of(
        session, user_id=principal.user_id, suggestion_ids=[suggestion.id]
    )
    return _read(suggestion, votes[suggestion.id])


@router.post("", response_model=SuggestionRead, status_code=status.HTTP_201_CREATED)
async def submit_suggestion(
    body: SuggestionCreate, principal: CurrentPrincipal, session: DbSession
) -> SuggestionRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    suggestion = await service.create(
        session, org_id=principal.org_id, author_user_id=principal.user_id, data=body
    )
    return _read(suggestion)


@router.get("", response_model=Page[SuggestionRead])
async def list_suggestions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    sort: SuggestionSort = SuggestionSort.SCORE,
    category: SuggestionCategory | None = None,
    status: SuggestionStatus | None = None,
    author_user_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[SuggestionRead]:
    """Suggestions, highest score first (``sort=newest``: newest first); seed's
    ``/api/suggestions/user/:userId`` is ``?author_user_id=``."""
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_suggestions(
        session,
        org_id=principal.org_id,
        params=page,
        sort=sort,
        category=category,
        status=status,
        author_user_id=author_user_id,
    )
    votes = await service.votes_of(
        session, user_id=principal.user_id, suggestion_ids=[r.id for r in rows]
    )
    return Page(data=[_read(r, votes[r.id]) for r in rows], next_cursor=cursor)


@router.get("/{suggestion_id}", response_model=SuggestionRead)
async def get_suggestion(
    suggestion_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> SuggestionRead:
    principal.require(Scope.ENGAGEMENT_READ)
    suggestion = await service.get(session, org_id=principal.org_id, suggestion_id=suggestion_id)
    return await _with_my_vote(session, principal, suggestion)


@router.patch("/{suggestion_id}", response_model=SuggestionRead)
async def update_suggestion(
    suggestion_id: PathId, body: SuggestionUpdate, principal: CurrentPrincipal, session: DbSession
) -> SuggestionRead:
    """Edit, or move along the statuses (implemented stamps ``implemented_at``)."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    suggestion = await service.get(session, org_id=principal.org_id, suggestion_id=suggestion_id)
    updated = await service.update(session, suggestion=suggestion, changes=body)
    return await _with_my_vote(session, principal, updated)


@router.post("/{suggestion_id}/vote", response_model=SuggestionRead)
async def vote(
    suggestion_id: PathId, body: VoteCast, principal: CurrentPrincipal, session: DbSession
) -> SuggestionRead:
    """The caller's one vote: ``up``, ``down``, or ``none`` to withdraw it."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    if principal.user_id is None:
        raise PermissionDenied("Votes belong to a user; this credential acts for none")
    suggestion = await service.vote(
        session,
        org_id=principal.org_id,
        suggestion_id=suggestion_id,
        user_id=principal.user_id,
        value=body.value,
    )
    return _read(suggestion, body.value)


@router.post(
    "/{suggestion_id}/comments", response_model=CommentRead, status_code=status.HTTP_201_CREATED
)
async def add_comment(
    suggestion_id: PathId, body: CommentCreate, principal: CurrentPrincipal, session: DbSession
) -> SuggestionComment:
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await service.comment(
        session,
        org_id=principal.org_id,
        suggestion_id=suggestion_id,
        author_user_id=principal.user_id,
        data=body,
    )


@router.get("/{suggestion_id}/comments", response_model=Page[CommentRead])
async def list_comments(
    suggestion_id: PathId, principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    suggestion = await service.get(session, org_id=principal.org_id, suggestion_id=suggestion_id)
    rows, cursor = await service.list_comments(session, suggestion=suggestion, params=page)
    return Page(data=[CommentRead.model_validate(r) for r in rows], next_cursor=cursor)
