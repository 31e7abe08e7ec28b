"""Event types careers record in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class ApplicationEvent(EventPayload):
    id: str
    position_id: str
    stage: str
    from_stage: str | None = None
    source: str | None = None


class InterviewEvent(EventPayload):
    id: str
    application_id: str
    status: str
    scheduled_at: str


APPLICATION_SUBMITTED = define(
    "job_application.submitted", ApplicationEvent, "A job application was submitted."
)
APPLICATION_STAGE_CHANGED = define(
    "job_application.stage_changed", ApplicationEvent, "An application moved to another stage."
)
APPLICATION_OFFER_EXTENDED = define(
    "job_application.offer_extended", ApplicationEvent, "An offer was made to an applicant."
)
APPLICATION_WITHDRAWN = define(
    "job_application.withdrawn", ApplicationEvent, "The applicant withdrew the application."
)
APPLICATION_RESUME_UPLOADED = define(
    "job_application.resume_uploaded", ApplicationEvent, "A resume was attached."
)
INTERVIEW_SCHEDULED = define(
    "job_interview.scheduled", InterviewEvent, "An interview was scheduled."
)
INTERVIEW_UPDATED = define(
    "job_interview.updated", InterviewEvent, "An interview was moved, completed or cancelled."
)
