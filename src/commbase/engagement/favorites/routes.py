"""Favorites API (seed 002 ``favorites.js``): the calling user's own favorites.

The seed names the user in the path (``/api/favorites/user/:userId``); here a
user's favorites are theirs alone, so the caller's credential says whose.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from commbase.core.auth import CurrentPrincipal, Principal
from commbase.core.db import DbSession
from commbase.core.errors import PermissionDenied
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.favorites import service
from commbase.engagement.favorites.enums import FavoriteType
from commbase.engagement.favorites.models import Favorite
from commbase.engagement.favorites.schemas import (
    FavoriteCheck,
    FavoriteCreate,
    FavoriteRead,
    FavoriteUpdate,
    FolderRead,
)

router = APIRouter(prefix="/v1/favorites", tags=["favorites"])
TAKEN: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"description": "The item is a favorite already (``favorite_id``)"}
}
ItemId = Annotated[str, Query(min_length=1, max_length=200)]


def _user(principal: Principal, scope: Scope) -> str:
    """The calling user: favorites belong to users, not to guest agent sessions."""
    principal.require(scope)
    if principal.user_id is None:
        raise PermissionDenied("Favorites belong to a user; this credential acts for none")
    return principal.user_id


async def _favorite(
    favorite_id: str, principal: CurrentPrincipal, session: DbSession, scope: Scope
) -> Favorite:
    user_id = _user(principal, scope)
    return await service.get(
        session, org_id=principal.org_id, user_id=user_id, favorite_id=favorite_id
    )


@router.post("", response_model=FavoriteRead, status_code=status.HTTP_201_CREATED, responses=TAKEN)
async def add_favorite(
    body: FavoriteCreate, principal: CurrentPrincipal, session: DbSession
) -> Favorite:
    user_id = _user(principal, Scope.ENGAGEMENT_WRITE)
    return await service.add(session, org_id=principal.org_id, user_id=user_id, data=body)


@router.get("", response_model=Page[FavoriteRead])
async def list_favorites(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    type: FavoriteType | None = None,
    folder: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    user_id = _user(principal, Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_favorites(
        session, org_id=principal.org_id, user_id=user_id, params=page, type_=type, folder=folder
    )
    return Page(data=[FavoriteRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/check", response_model=FavoriteCheck)
async def check_favorite(
    principal: CurrentPrincipal, session: DbSession, type: FavoriteType, item_id: ItemId
) -> FavoriteCheck:
    """Whether the item is one of the caller's favorites."""
    user_id = _user(principal, Scope.ENGAGEMENT_READ)
    found = await service.find(
        session, org_id=principal.org_id, user_id=user_id, type_=type, item_id=item_id
    )
    return FavoriteCheck(
        favorited=found is not None,
        favorite=FavoriteRead.model_validate(found) if found else None,
    )


@router.get("/folders", response_model=Page[FolderRead])
async def list_folders(principal: CurrentPrincipal, session: DbSession) -> Page[FolderRead]:
    """The caller's folders by name (at most 100) with how many favorites each holds."""
    user_id = _user(principal, Scope.ENGAGEMENT_READ)
    rows = await service.folders(session, org_id=principal.org_id, user_id=user_id)
    return Page(data=[FolderRead(folder=name, favorites=n) for name, n in rows])


@router.delete("/items/{type}/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_item(
    type: FavoriteType,
    item_id: Annotated[str, Path(max_length=200)],
    principal: CurrentPrincipal,
    session: DbSession,
) -> None:
    """Remove an item from the caller's favorites by its type and id."""
    user_id = _user(principal, Scope.ENGAGEMENT_WRITE)
    favorite = await service.get_by_item(
        session, org_id=principal.org_id, user_id=user_id, type_=type, item_id=item_id
    )
    await service.remove(session, favorite=favorite)


@router.get("/{favorite_id}", response_model=FavoriteRead)
async def get_favorite(
    favorite_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Favorite:
    return await _favorite(favorite_id, principal, session, Scope.ENGAGEMENT_READ)


@router.patch("/{favorite_id}", response_model=FavoriteRead)
async def update_favorite(
    favorite_id: PathId, body: FavoriteUpdate, principal: CurrentPrincipal, session: DbSession
) -> Favorite:
    favorite = await _favorite(favorite_id, principal, session, Scope.ENGAGEMENT_WRITE)
    return await service.change(session, favorite=favorite, changes=body)


@router.delete("/{favorite_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_favorite(
    favorite_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> None:
    favorite = await _favorite(favorite_id, principal, session, Scope.ENGAGEMENT_WRITE)
    await service.remove(session, favorite=favorite)


@router.post("/{favorite_id}/use", response_model=FavoriteRead)
async def use_favorite(
    favorite_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Favorite:
    """Count one use (atomic: concurrent uses all count)."""
    favorite = await _favorite(favorite_id, principal, session, Scope.ENGAGEMENT_WRITE)
    return await service.use(session, favorite=favorite)
