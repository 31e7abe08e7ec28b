"""API shapes for comments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema

Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Mentions = Annotated[
    list[RecordId],
    Field(
        max_length=20,
        description="Ids of the organization's members this comment @mentions; each gets "
        "a comment.mentioned event (422 if one is not a member)",
    ),
]


class CommentCreate(AppSchema):
    body: Body
    parent_id: RecordId | None = Field(
        default=None,
        description="Reply to this comment (a first comment on the same call or ticket; "
        "threads are one level deep)",
    )
    mentions: Mentions = Field(default_factory=list)


class CommentUpdate(AppSchema):
    body: Body
    mentions: Mentions | None = Field(
        default=None, description="Replaces the list; only newly mentioned members are notified"
    )


class CommentRead(ReadSchema):
    id: str
    call_id: str | None
    ticket_id: str | None
    author_id: str
    parent_id: str | None
    mentions: list[str]
    body: str
    edited_at: datetime | None
    created_at: datetime
    updated_at: datetime
