"""Suggestions' part in GDPR requests.

A user's suggestions, comments and votes are exported with them. Erasing the
user deletes their comments and votes (the counts are recomputed) and keeps
their suggestions for the community, unlinked from them and with the
description they wrote replaced by a note that it was erased. A suggestion a
website visitor sent with the user's email (no author) counts as theirs: exported,
and erased the same way (email emptied, visitor access tokens dropped); so is one
found by a request about that email address alone.
Suggestions name no contact.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core.db import rowcount
from commbase.engagement.intake.access import forget_access
from commbase.engagement.intake.subjects import left_by_email, user_email
from commbase.engagement.suggestions import service
from commbase.engagement.suggestions.enums import INTAKE_RECORD_TYPE
from commbase.engagement.suggestions.metrics import VOTES
from commbase.engagement.suggestions.models import Suggestion, SuggestionComment, SuggestionVote
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject

ERASED = "(erased at the author's request)"


async def _authored(session: AsyncSession, user_id: str) -> ColumnElement[bool]:
    """Suggestions the user wrote, or sent from a website with their email."""
    email = await user_email(session, user_id=user_id)
    return or_(
        Suggestion.author_user_id == user_id,
        left_by_email(Suggestion.author_email, email, Suggestion.author_user_id),
    )


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    suggestions = await session.scalars(
        select(Suggestion)
        .where(Suggestion.org_id == org_id, await _authored(session, subject_id))
        .order_by(Suggestion.id)
    )
    comments = await session.scalars(
        select(SuggestionComment)
        .where(SuggestionComment.org_id == org_id, SuggestionComment.author_user_id == subject_id)
        .order_by(SuggestionComment.id)
    )
    votes = await session.scalars(
        select(SuggestionVote)
        .where(SuggestionVote.org_id == org_id, SuggestionVote.user_id == subject_id)
        .order_by(SuggestionVote.id)
    )
    return {
        "suggestions": as_records(suggestions),
        "suggestion_comments": as_records(comments),
        "suggestion_votes": as_records(votes),
    }


async def _drop_votes(session: AsyncSession, org_id: str, user_id: str) -> int:
    rows = (
        await session.execute(
            select(SuggestionVote.suggestion_id, SuggestionVote.created_at).where(
                SuggestionVote.org_id == org_id, SuggestionVote.user_id == user_id
            )
        )
    ).all()
    await touches.touch(session, org_id=org_id, source=VOTES, times=[r.created_at for r in rows])
    await session.execute(
        delete(SuggestionVote).where(
            SuggestionVote.org_id == org_id, SuggestionVote.user_id == user_id
        )
    )
    for suggestion_id in sorted({r.suggestion_id for r in rows}):
        suggestion = await service.get(
            session, org_id=org_id, suggestion_id=suggestion_id, for_update=True
        )
        await service.recount(session, suggestion=suggestion)
    return len(rows)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    votes = await _drop_votes(session, org_id, subject_id)
    comments = (
        await session.execute(
            select(SuggestionComment.suggestion_id).where(
                SuggestionComment.org_id == org_id,
                SuggestionComment.author_user_id == subject_id,
            )
        )
    ).all()
    await session.execute(
        delete(SuggestionComment).where(
            SuggestionComment.org_id == org_id, SuggestionComment.author_user_id == subject_id
        )
    )
    for (suggestion_id,) in comments:
        await session.execute(
            update(Suggestion)
            .where(Suggestion.id == suggestion_id)
            .values(comment_count=Suggestion.comment_count - 1)
        )
    mine = await _authored(session, subject_id)
    ids = list(
        await session.scalars(select(Suggestion.id).where(Suggestion.org_id == org_id, mine))
    )
    await forget_access(session, org_id=org_id, record_type=INTAKE_RECORD_TYPE, record_ids=ids)
    authored = await session.execute(
        update(Suggestion)
        .where(Suggestion.org_id == org_id, Suggestion.id.in_(ids))
        .values(author_user_id=None, author_email=None, description=ERASED)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return {
        "suggestion_votes": votes,
        "suggestion_comments": len(comments),
        "suggestions": rowcount(authored),
    }


def _left_by(email: str) -> ColumnElement[bool]:
    return left_by_email(Suggestion.author_email, email, Suggestion.author_user_id)


async def export_email(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Suggestion)
        .where(Suggestion.org_id == org_id, _left_by(subject_id))
        .order_by(Suggestion.id)
    )
    return {"suggestions": as_records(rows)}


async def erase_email(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    ids = list(
        await session.scalars(
            select(Suggestion.id).where(Suggestion.org_id == org_id, _left_by(subject_id))
        )
    )
    await forget_access(session, org_id=org_id, record_type=INTAKE_RECORD_TYPE, record_ids=ids)
    result = await session.execute(
        update(Suggestion)
        .where(Suggestion.org_id == org_id, Suggestion.id.in_(ids))
        .values(author_email=None, description=ERASED)
        .execution_options(synchronize_session=False)
    )
    return {"suggestions": rowcount(result)}


register_subject(
    "engagement.suggestions",
    "email",
    tables={"suggestions"},
    export=export_email,
    erase=erase_email,
    order=300,
)
register_subject(
    "engagement.suggestions",
    "user",
    tables={"suggestions", "suggestion_comments", "suggestion_votes"},
    export=export_user,
    erase=erase_user,
    order=300,
)
