"""Comments' part in GDPR requests: a member's comments are exported with them and
deleted when they are erased (other members' replies to them stay, as first comments),
and they are taken out of other comments' mentions. Comments name no contact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.engagement.comments.models import Comment
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Comment)
        .where(Comment.org_id == org_id, Comment.author_id == subject_id)
        .order_by(Comment.id)
    )
    return {"comments": as_records(rows)}


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    result = await session.execute(
        delete(Comment).where(Comment.org_id == org_id, Comment.author_id == subject_id)
    )
    # JSON as text holds each id in quotes, on SQLite and PostgreSQL alike.
    mentioning = await session.scalars(
        select(Comment).where(
            Comment.org_id == org_id,
            cast(Comment.mentions, String).contains(f'"{subject_id}"'),
        )
    )
    for comment in mentioning:
        comment.mentions = [m for m in comment.mentions if m != subject_id]
    await session.flush()
    return {"comments": rowcount(result)}


register_subject(
    "engagement.comments",
    "user",
    tables={"comments"},
    export=export_user,
    erase=erase_user,
    order=300,
)
