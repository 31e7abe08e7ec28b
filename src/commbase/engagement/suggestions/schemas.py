"""API shapes for community suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import not_null
from commbase.engagement.intake.schemas import IntakeForm
from commbase.engagement.suggestions.enums import SuggestionCategory, SuggestionStatus, VoteValue

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class SuggestionCreate(AppSchema):
    title: Title
    description: Body
    category: SuggestionCategory = SuggestionCategory.FEATURE_REQUEST


class SuggestionUpdate(AppSchema):
    """Edit the text, or move the suggestion along (with implementation notes)."""

    title: Title | None = None
    description: Body | None = None
    category: SuggestionCategory | None = None
    status: SuggestionStatus | None = None
    implementation_notes: Body | None = None

    _required = field_validator("title", "description", "category", "status")(not_null)


class VoteCast(AppSchema):
    value: VoteValue


class CommentCreate(AppSchema):
    body: Body


class SuggestionRead(ReadSchema):
    id: str
    author_user_id: str | None
    title: str
    description: str
    category: SuggestionCategory
    status: SuggestionStatus
    upvotes: int
    downvotes: int
    score: int
    comment_count: int
    implementation_notes: str | None
    implemented_at: datetime | None
    my_vote: VoteValue = VoteValue.NONE
    created_at: datetime
    updated_at: datetime


class CommentRead(ReadSchema):
    id: str
    suggestion_id: str
    author_user_id: str | None
    body: str
    created_at: datetime


class SuggestionIntake(IntakeForm, SuggestionCreate):
    """A website visitor's suggestion (no account: it has no author). The optional
    email is kept (lowercased) so a GDPR request about that person finds it."""

    email: EmailStr | None = None


class SuggestionPublic(ReadSchema):
    """What the visitor's access token shows: where their suggestion stands."""

    id: str
    title: str
    category: SuggestionCategory
    status: SuggestionStatus
    score: int
    comment_count: int
    implementation_notes: str | None
    implemented_at: datetime | None
    created_at: datetime
