"""API shapes for favorites."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import JsonObject, ShortText, not_null
from commbase.engagement.favorites.enums import FavoriteType

ItemId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Folder = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class FavoriteCreate(AppSchema):
    type: FavoriteType
    item_id: ItemId = Field(examples=["neural-chat"])
    title: ShortText | None = None
    metadata: JsonObject = Field(default_factory=dict)
    folder: Folder | None = None


class FavoriteUpdate(AppSchema):
    """Fields sent replace stored ones; ``folder: null`` takes it out of its folder."""

    title: ShortText | None = None
    metadata: JsonObject | None = None
    folder: Folder | None = None

    _required = field_validator("metadata")(not_null)


class FavoriteRead(ReadSchema):
    id: str
    user_id: str
    type: FavoriteType
    item_id: str
    title: str | None
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    folder: str | None
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


class FavoriteCheck(ReadSchema):
    favorited: bool
    favorite: FavoriteRead | None


class FolderRead(ReadSchema):
    folder: str
    favorites: int
