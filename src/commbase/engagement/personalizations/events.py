"""Event types personalizations record in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class PersonalizationEvent(EventPayload):
    id: str
    user_id: str
    agent_id: str


PERSONALIZATION_SAVED = define(
    "personalization.saved", PersonalizationEvent, "A user personalised an agent."
)
PERSONALIZATION_DELETED = define(
    "personalization.deleted", PersonalizationEvent, "A user reset an agent's personalization."
)
