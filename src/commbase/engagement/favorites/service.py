"""Favorites: each user's own. Add (one per type and item), list, check, folders,
change, remove, and count uses atomically."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.errors import AlreadyExists, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.favorites import events
from commbase.engagement.favorites.enums import FavoriteType
from commbase.engagement.favorites.models import Favorite
from commbase.engagement.favorites.schemas import FavoriteCreate, FavoriteUpdate

MAX_FOLDERS = 100


def _payload(favorite: Favorite) -> dict[str, Any]:
    return {
        "id": favorite.id,
        "user_id": favorite.user_id,
        "type": favorite.type,
        "item_id": favorite.item_id,
    }


async def find(
    session: AsyncSession, *, org_id: str, user_id: str, type_: FavoriteType, item_id: str
) -> Favorite | None:
    return await session.scalar(
        select(Favorite).where(
            Favorite.org_id == org_id,
            Favorite.user_id == user_id,
            Favorite.type == type_,
            Favorite.item_id == item_id,
        )
    )


async def get_by_item(
    session: AsyncSession, *, org_id: str, user_id: str, type_: FavoriteType, item_id: str
) -> Favorite:
    found = await find(session, org_id=org_id, user_id=user_id, type_=type_, item_id=item_id)
    if found is None:
        raise NotFound("Favorite not found")
    return found


def _duplicate(existing: Favorite) -> AlreadyExists:
    return AlreadyExists("This item is a favorite already", favorite_id=existing.id)


async def add(
    session: AsyncSession, *, org_id: str, user_id: str, data: FavoriteCreate
) -> Favorite:
    """Add a favorite; AlreadyExists (409, naming it) if the item is one already."""
    existing = await find(
        session, org_id=org_id, user_id=user_id, type_=data.type, item_id=data.item_id
    )
    if existing is not None:
        raise _duplicate(existing)
    favorite = Favorite(
        org_id=org_id,
        user_id=user_id,
        type=data.type,
        item_id=data.item_id,
        title=data.title,
        metadata_=data.metadata,
        folder=data.folder,
    )
    try:
        async with session.begin_nested():
            session.add(favorite)
            await session.flush()
    except IntegrityError as exc:  # the same item, added at the same moment
        again = await find(
            session, org_id=org_id, user_id=user_id, type_=data.type, item_id=data.item_id
        )
        if again is None:
            raise
        raise _duplicate(again) from exc
    await outbox.record(session, events.FAVORITE_ADDED, _payload(favorite), org_id=org_id)
    return favorite


async def get(session: AsyncSession, *, org_id: str, user_id: str, favorite_id: str) -> Favorite:
    favorite = await session.scalar(
        select(Favorite).where(
            Favorite.org_id == org_id, Favorite.user_id == user_id, Favorite.id == favorite_id
        )
    )
    if favorite is None:
        raise NotFound("Favorite not found")
    return favorite


async def list_favorites(
    session: AsyncSession,
    *,
    org_id: str,
    user_id: str,
    params: PageParams,
    type_: FavoriteType | None = None,
    folder: str | None = None,
) -> tuple[Sequence[Favorite], str | None]:
    statement = select(Favorite).where(Favorite.org_id == org_id, Favorite.user_id == user_id)
    if type_ is not None:
        statement = statement.where(Favorite.type == type_)
    if folder is not None:
        statement = statement.where(Favorite.folder == folder)
    return await paginate(session, statement, id_column=Favorite.id, params=params)


async def folders(session: AsyncSession, *, org_id: str, user_id: str) -> list[tuple[str, int]]:
    """The user's folders (at most ``MAX_FOLDERS``, by name) and how many favorites each holds."""
    rows = await session.execute(
        select(Favorite.folder, func.count())
        .where(
            Favorite.org_id == org_id,
            Favorite.user_id == user_id,
            Favorite.folder.is_not(None),
        )
        .group_by(Favorite.folder)
        .order_by(Favorite.folder)
        .limit(MAX_FOLDERS)
    )
    return [(str(row[0]), int(row[1])) for row in rows]


async def change(session: AsyncSession, *, favorite: Favorite, changes: FavoriteUpdate) -> Favorite:
    data = changes.model_dump(exclude_unset=True)
    if "metadata" in data:
        data["metadata_"] = data.pop("metadata")
    for field, value in data.items():
        setattr(favorite, field, value)
    await session.flush()
    await outbox.record(
        session, events.FAVORITE_UPDATED, _payload(favorite), org_id=favorite.org_id
    )
    return favorite


async def remove(session: AsyncSession, *, favorite: Favorite) -> None:
    await outbox.record(
        session, events.FAVORITE_REMOVED, _payload(favorite), org_id=favorite.org_id
    )
    await session.delete(favorite)
    await session.flush()


async def use(session: AsyncSession, *, favorite: Favorite) -> Favorite:
    """Count one use in a single UPDATE, so concurrent uses all count."""
    await session.execute(
        update(Favorite)
        .where(Favorite.id == favorite.id)
        .values(usage_count=Favorite.usage_count + 1, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(favorite)
    return favorite
