"""Event types webinars record in the outbox (ids and counts: no personal data)."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class WebinarEvent(EventPayload):
    id: str
    status: str


class WebinarUpdated(WebinarEvent):
    fields: list[str]


class RegistrationEvent(EventPayload):
    id: str
    webinar_id: str
    status: str
    source: str


class RegistrationLeft(RegistrationEvent):
    minutes_attended: int


class RegistrationFeedback(RegistrationEvent):
    rating: int


WEBINAR_CREATED = define("webinar.created", WebinarEvent, "A webinar was scheduled.")
WEBINAR_UPDATED = define("webinar.updated", WebinarUpdated, "A webinar's details changed.")
WEBINAR_CANCELLED = define("webinar.cancelled", WebinarEvent, "A webinar was cancelled.")
REGISTRATION_CREATED = define(
    "webinar.registration.created", RegistrationEvent, "Someone registered for a webinar."
)
REGISTRATION_CANCELLED = define(
    "webinar.registration.cancelled", RegistrationEvent, "A registration was cancelled."
)
REGISTRATION_JOINED = define(
    "webinar.registration.joined", RegistrationEvent, "A registrant joined the webinar."
)
REGISTRATION_LEFT = define(
    "webinar.registration.left", RegistrationLeft, "A registrant left the webinar."
)
REGISTRATION_FEEDBACK = define(
    "webinar.registration.feedback", RegistrationFeedback, "A registrant rated the webinar."
)
