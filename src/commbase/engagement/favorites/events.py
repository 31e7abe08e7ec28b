"""Event types favorites record in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class FavoriteEvent(EventPayload):
    id: str
    user_id: str
    type: str
    item_id: str


FAVORITE_ADDED = define("favorite.added", FavoriteEvent, "A user added a favorite.")
FAVORITE_UPDATED = define("favorite.updated", FavoriteEvent, "A favorite changed.")
FAVORITE_REMOVED = define("favorite.removed", FavoriteEvent, "A user removed a favorite.")
