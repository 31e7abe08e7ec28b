"""Full-text search over message text, on both databases.

PostgreSQL: a GIN index over ``to_tsvector('simple', coalesce(body, ''))``
(migration 0015) keeps itself current; queries use ``websearch_to_tsquery``.
SQLite: the FTS5 table ``messages_fts`` (tokenizer ``unicode61 remove_diacritics
2``) is kept in step by :func:`index` and :func:`unindex`; its row ids derive
from message ids, so a row is found without scanning.

The ``simple`` configuration stems nothing and stops no words, as FTS5 here
does: chat comes in every language, so both databases match whole words,
case-insensitively (SQLite also folds diacritics). Every word of the query must
occur. Hits are listed newest first and paged by message id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import invalid
from commbase.core.pagination import PageParams, encode_cursor
from commbase.messaging.models import Message

MAX_TERMS = 16
HIGHLIGHT = "**"
_WORD = re.compile(r"\w+")
_FTS = table("messages_fts", column("message_id"), column("org_id"), column("body"))


def _sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _rowid(message_id: str) -> int:
    digest = hashlib.blake2b(message_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # a positive signed 64-bit integer


async def index(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Make the text of ``messages`` searchable (SQLite; PostgreSQL indexes itself)."""
    await index_rows(session, [(m.id, m.org_id, m.body) for m in messages])


async def index_rows(
    session: AsyncSession, messages: Sequence[tuple[str, str, str | None]]
) -> None:
    """``index`` for ``(id, org_id, body)`` of messages inserted without ORM objects."""
    if not _sqlite(session):
        return
    rows = [
        {"rowid": _rowid(id_), "message_id": id_, "org_id": org_id, "body": body}
        for id_, org_id, body in messages
        if body
    ]
    if rows:
        await session.execute(
            text(
                "INSERT OR REPLACE INTO messages_fts (rowid, message_id, org_id, body) "
                "VALUES (:rowid, :message_id, :org_id, :body)"
            ),
            rows,
        )


async def unindex(session: AsyncSession, message_ids: Sequence[str]) -> None:
    """Forget the text of erased or purged messages (SQLite)."""
    if message_ids and _sqlite(session):
        await session.execute(
            text("DELETE FROM messages_fts WHERE rowid IN :rowids").bindparams(
                bindparam("rowids", expanding=True)
            ),
            {"rowids": [_rowid(message_id) for message_id in message_ids]},
        )


def _terms(query: str) -> list[str]:
    terms = _WORD.findall(query)[:MAX_TERMS]
    if not terms:
        raise invalid("q must contain at least one word", "q", location="query")
    return terms


def _statement(session: AsyncSession, *, org_id: str, terms: list[str]) -> Select[Any]:
    if _sqlite(session):
        fts: ColumnElement[Any] = literal_column("messages_fts")
        match = " ".join(f'"{term}"' for term in terms)
        return (
            select(
                Message.id,
                Message.conversation_id,
                Message.created_at,
                func.snippet(fts, 2, HIGHLIGHT, HIGHLIGHT, "…", 16).label("snippet"),
            )
            .select_from(_FTS)
            .join(Message, Message.id == _FTS.c.message_id)
            .where(fts.op("MATCH")(match), Message.org_id == org_id)
        )
    document = func.to_tsvector(
        literal_column("'simple'"), func.coalesce(Message.body, literal_column("''"))
    )
    query = func.websearch_to_tsquery(literal_column("'simple'"), " ".join(terms))
    options = f"StartSel={HIGHLIGHT}, StopSel={HIGHLIGHT}, MaxWords=20, MinWords=8"
    return select(
        Message.id,
        Message.conversation_id,
        Message.created_at,
        func.ts_headline(
            literal_column("'simple'"), func.coalesce(Message.body, ""), query, options
        ).label("snippet"),
    ).where(Message.org_id == org_id, document.op("@@")(query))


async def search(
    session: AsyncSession,
    *,
    org_id: str,
    query: str,
    params: PageParams,
    conversation_ids: Select[Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Messages of ``org_id`` containing every word of ``query``, newest first."""
    statement = _statement(session, org_id=org_id, terms=_terms(query))
    if conversation_ids is not None:
        statement = statement.where(Message.conversation_id.in_(conversation_ids))
    if params.after_id is not None:
        statement = statement.where(Message.id < params.after_id)
    statement = statement.order_by(Message.id.desc()).limit(params.limit + 1)
    rows = [
        {
            "message_id": row.id,
            "conversation_id": row.conversation_id,
            "created_at": row.created_at,
            "snippet": row.snippet,
        }
        for row in (await session.execute(statement)).all()
    ]
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, encode_cursor(rows[-1]["message_id"])
    return rows, None
