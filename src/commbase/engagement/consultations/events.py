"""Event types consultations record in the outbox, one per lifecycle step."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class ConsultationEvent(EventPayload):
    id: str
    type: str
    status: str
    scheduled_at: str | None = None
    host_id: str | None = None
    outcome: str | None = None
    source: str | None = None


class ConsultationFeedback(EventPayload):
    id: str
    rating: int


CONSULTATION_REQUESTED = define(
    "consultation.requested", ConsultationEvent, "A consultation was requested."
)
CONSULTATION_SCHEDULED = define(
    "consultation.scheduled", ConsultationEvent, "A consultation was scheduled or rescheduled."
)
CONSULTATION_COMPLETED = define(
    "consultation.completed", ConsultationEvent, "A consultation took place; outcome recorded."
)
CONSULTATION_CANCELLED = define(
    "consultation.cancelled", ConsultationEvent, "A consultation was cancelled."
)
CONSULTATION_NO_SHOW = define(
    "consultation.no_show", ConsultationEvent, "The requester did not attend the consultation."
)
CONSULTATION_FEEDBACK = define(
    "consultation.feedback_received", ConsultationFeedback, "The requester rated a consultation."
)
