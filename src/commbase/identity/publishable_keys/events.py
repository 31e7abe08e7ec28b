"""Event types of publishable keys."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class PublishableKeyEvent(EventPayload):
    id: str
    name: str | None = None


PUBLISHABLE_KEY_CREATED = define(
    "publishable_key.created", PublishableKeyEvent, "A publishable key was created."
)
PUBLISHABLE_KEY_REVOKED = define(
    "publishable_key.revoked", PublishableKeyEvent, "A publishable key was revoked."
)
