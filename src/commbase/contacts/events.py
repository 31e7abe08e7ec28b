"""Event types the contacts domain records in the outbox (ids only: no personal data)."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class ContactCreated(EventPayload):
    id: str
    owner_user_id: str | None
    owner_agent_session_id: str | None


class ContactUpdated(EventPayload):
    id: str
    fields: list[str]


class ContactDeleted(EventPayload):
    id: str


CONTACT_CREATED = define("contact.created", ContactCreated, "A contact was added.")
CONTACT_UPDATED = define("contact.updated", ContactUpdated, "A contact changed.")
CONTACT_DELETED = define("contact.deleted", ContactDeleted, "A contact was deleted.")
