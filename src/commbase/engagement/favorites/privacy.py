"""Favorites' part in GDPR requests: a user's favorites are exported with them and
deleted when they are erased. Favorites name no contact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.engagement.favorites.models import Favorite
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Favorite)
        .where(Favorite.org_id == org_id, Favorite.user_id == subject_id)
        .order_by(Favorite.id)
    )
    return {"favorites": as_records(rows)}


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    result = await session.execute(
        delete(Favorite).where(Favorite.org_id == org_id, Favorite.user_id == subject_id)
    )
    return {"favorites": rowcount(result)}


register_subject(
    "engagement.favorites",
    "user",
    tables={"favorites"},
    export=export_user,
    erase=erase_user,
    order=300,
)
