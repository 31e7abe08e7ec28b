"""Cursor pagination: ``?limit=&cursor=`` in, ``{"data": [...], "next_cursor": ...}`` out.

Rows are listed newest first by their sortable public id; the cursor is the
opaque, URL-safe encoding of the last id returned.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from commbase.core.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageParams:
    limit: int
    after_id: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(
            "cursor is not one this API returned",
            errors=[{"loc": ["query", "cursor"], "field": "cursor", "message": "invalid cursor"}],
        ) from exc
    if not value or len(value) > 64 or not (value.isascii() and value.isprintable()):
        raise ValidationFailed(
            "cursor is not one this API returned",
            errors=[{"loc": ["query", "cursor"], "field": "cursor", "message": "invalid cursor"}],
        )
    return value


def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=128, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


PageQuery = Annotated[PageParams, Depends(_page_params)]


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    *,
    id_column: InstrumentedAttribute[str],
    params: PageParams,
) -> tuple[Sequence[Any], str | None]:
    """Run ``statement`` for one page; return the rows and the next cursor."""
    if params.after_id is not None:
        statement = statement.where(id_column < params.after_id)
    statement = statement.order_by(id_column.desc()).limit(params.limit + 1)
    rows = (await session.scalars(statement)).all()
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, encode_cursor(getattr(rows[-1], id_column.key))
    return rows, None
