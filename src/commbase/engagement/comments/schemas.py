"""API shapes for comments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema

Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class CommentCreate(AppSchema):
    body: Body


class CommentUpdate(AppSchema):
    body: Body


class CommentRead(ReadSchema):
    id: str
    call_id: str | None
    ticket_id: str | None
    author_id: str
    body: str
    edited_at: datetime | None
    created_at: datetime
    updated_at: datetime
