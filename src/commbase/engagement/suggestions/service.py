"""Community suggestions: submit, list by score, read, edit and move along, vote
(one vote per user, changeable), comment.

Votes on one suggestion are serialised by locking its row (``FOR UPDATE`` on
PostgreSQL; SQLite runs one writer at a time), and the counts are recomputed
from the votes in the same transaction, so they never drift from the votes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core import outbox
from commbase.core.errors import NotFound, ValidationFailed
from commbase.core.pagination import PageParams, encode_cursor, paginate
from commbase.core.time import utcnow
from commbase.engagement.suggestions import events
from commbase.engagement.suggestions.enums import (
    SuggestionCategory,
    SuggestionSort,
    SuggestionStatus,
    VoteValue,
)
from commbase.engagement.suggestions.metrics import VOTES
from commbase.engagement.suggestions.models import Suggestion, SuggestionComment, SuggestionVote
from commbase.engagement.suggestions.schemas import (
    CommentCreate,
    SuggestionCreate,
    SuggestionUpdate,
)

_VALUES = {VoteValue.UP: 1, VoteValue.DOWN: -1}


def _payload(suggestion: Suggestion) -> dict[str, Any]:
    return {"id": suggestion.id, "category": suggestion.category, "status": suggestion.status}


async def create(
    session: AsyncSession,
    *,
    org_id: str,
    author_user_id: str | None,
    data: SuggestionCreate,
    author_email: str | None = None,
) -> Suggestion:
    suggestion = Suggestion(
        org_id=org_id,
        author_user_id=author_user_id,
        author_email=author_email.lower() if author_email else None,
        title=data.title,
        description=data.description,
        category=data.category,
        status=SuggestionStatus.SUBMITTED,
    )
    session.add(suggestion)
    await session.flush()
    await outbox.record(session, events.SUGGESTION_CREATED, _payload(suggestion), org_id=org_id)
    return suggestion


async def get(
    session: AsyncSession, *, org_id: str, suggestion_id: str, for_update: bool = False
) -> Suggestion:
    statement = select(Suggestion).where(
        Suggestion.org_id == org_id, Suggestion.id == suggestion_id
    )
    if for_update:
        statement = statement.with_for_update()
    suggestion = await session.scalar(statement)
    if suggestion is None:
        raise NotFound("Suggestion not found")
    return suggestion


def _score_cursor(after: str) -> tuple[int, str]:
    score, _, last_id = after.partition("|")
    try:
        return int(score), last_id
    except ValueError:
        raise ValidationFailed(
            "cursor is not one this API returned",
            errors=[{"loc": ["query", "cursor"], "field": "cursor", "message": "invalid cursor"}],
        ) from None


async def list_suggestions(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    sort: SuggestionSort = SuggestionSort.SCORE,
    category: SuggestionCategory | None = None,
    status: SuggestionStatus | None = None,
    author_user_id: str | None = None,
) -> tuple[Sequence[Suggestion], str | None]:
    """One page of suggestions: highest score first (ties: newest first), or newest first."""
    statement = select(Suggestion).where(Suggestion.org_id == org_id)
    if category is not None:
        statement = statement.where(Suggestion.category == category)
    if status is not None:
        statement = statement.where(Suggestion.status == status)
    if author_user_id is not None:
        statement = statement.where(Suggestion.author_user_id == author_user_id)
    if sort == SuggestionSort.NEWEST:
        return await paginate(session, statement, id_column=Suggestion.id, params=params)
    if params.after_id is not None:
        score, last_id = _score_cursor(params.after_id)
        statement = statement.where(
            or_(
                Suggestion.score < score,
                and_(Suggestion.score == score, Suggestion.id < last_id),
            )
        )
    statement = statement.order_by(Suggestion.score.desc(), Suggestion.id.desc())
    rows = (await session.scalars(statement.limit(params.limit + 1))).all()
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    return rows, encode_cursor(f"{rows[-1].score}|{rows[-1].id}")


async def update(
    session: AsyncSession, *, suggestion: Suggestion, changes: SuggestionUpdate
) -> Suggestion:
    data = changes.model_dump(exclude_unset=True)
    moved = "status" in data and data["status"] != suggestion.status
    for field, value in data.items():
        setattr(suggestion, field, value)
    if moved and suggestion.status == SuggestionStatus.IMPLEMENTED:
        suggestion.implemented_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        events.SUGGESTION_UPDATED,
        {**_payload(suggestion), "fields": sorted(changes.model_fields_set)},
        org_id=suggestion.org_id,
    )
    if moved:
        await outbox.record(
            session,
            events.SUGGESTION_STATUS_CHANGED,
            _payload(suggestion),
            org_id=suggestion.org_id,
        )
    return suggestion


async def votes_of(
    session: AsyncSession, *, user_id: str | None, suggestion_ids: Sequence[str]
) -> dict[str, VoteValue]:
    """The user's vote on each of the suggestions (``none`` where they have not voted)."""
    found: dict[str, VoteValue] = {sid: VoteValue.NONE for sid in suggestion_ids}
    if user_id is None or not suggestion_ids:
        return found
    rows = await session.execute(
        select(SuggestionVote.suggestion_id, SuggestionVote.value).where(
            SuggestionVote.user_id == user_id, SuggestionVote.suggestion_id.in_(suggestion_ids)
        )
    )
    for suggestion_id, value in rows:
        found[suggestion_id] = VoteValue.UP if value > 0 else VoteValue.DOWN
    return found


async def recount(session: AsyncSession, *, suggestion: Suggestion) -> None:
    """Set the vote counts and score from the stored votes."""
    rows = await session.execute(
        select(SuggestionVote.value, func.count())
        .where(SuggestionVote.suggestion_id == suggestion.id)
        .group_by(SuggestionVote.value)
    )
    counts = {int(value): int(n) for value, n in rows}
    suggestion.upvotes = counts.get(1, 0)
    suggestion.downvotes = counts.get(-1, 0)
    suggestion.score = suggestion.upvotes - suggestion.downvotes


async def vote(
    session: AsyncSession, *, org_id: str, suggestion_id: str, user_id: str, value: VoteValue
) -> Suggestion:
    """Cast, change or (``none``) withdraw the user's vote."""
    suggestion = await get(session, org_id=org_id, suggestion_id=suggestion_id, for_update=True)
    existing = await session.scalar(
        select(SuggestionVote).where(
            SuggestionVote.suggestion_id == suggestion.id, SuggestionVote.user_id == user_id
        )
    )
    if value == VoteValue.NONE:
        if existing is not None:
            # A deleted fact's hour is refolded by analytics.
            await touches.touch(session, org_id=org_id, source=VOTES, times=[existing.created_at])
            await session.execute(delete(SuggestionVote).where(SuggestionVote.id == existing.id))
    elif existing is None:
        session.add(
            SuggestionVote(
                org_id=org_id, suggestion_id=suggestion.id, user_id=user_id, value=_VALUES[value]
            )
        )
    else:
        existing.value = _VALUES[value]
    await session.flush()
    await recount(session, suggestion=suggestion)
    await session.flush()
    await outbox.record(
        session,
        events.SUGGESTION_VOTED,
        {
            **_payload(suggestion),
            "upvotes": suggestion.upvotes,
            "downvotes": suggestion.downvotes,
            "score": suggestion.score,
        },
        org_id=org_id,
    )
    return suggestion


async def comment(
    session: AsyncSession,
    *,
    org_id: str,
    suggestion_id: str,
    author_user_id: str | None,
    data: CommentCreate,
) -> SuggestionComment:
    suggestion = await get(session, org_id=org_id, suggestion_id=suggestion_id, for_update=True)
    added = SuggestionComment(
        org_id=org_id,
        suggestion_id=suggestion.id,
        author_user_id=author_user_id,
        body=data.body,
    )
    session.add(added)
    suggestion.comment_count += 1
    await session.flush()
    await outbox.record(
        session,
        events.SUGGESTION_COMMENTED,
        {**_payload(suggestion), "comment_id": added.id},
        org_id=org_id,
    )
    return added


async def list_comments(
    session: AsyncSession, *, suggestion: Suggestion, params: PageParams
) -> tuple[Sequence[SuggestionComment], str | None]:
    statement = select(SuggestionComment).where(SuggestionComment.suggestion_id == suggestion.id)
    return await paginate(session, statement, id_column=SuggestionComment.id, params=params)
