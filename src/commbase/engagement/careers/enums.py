"""Careers: positions, the application stages and their transitions (seed 002's
JobApplication, 13 stages)."""

from __future__ import annotations

from enum import StrEnum

# The record type of an application's visitor access tokens (engagement.intake).
INTAKE_RECORD_TYPE = "job_application"


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class EmploymentType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    CONTRACT = "contract"
    INTERNSHIP = "internship"


class ApplicationStage(StrEnum):
    """Seed 002 counts thirteen statuses without naming them; these are commbase's."""

    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    PHONE_SCREEN = "phone_screen"
    ASSESSMENT = "assessment"
    INTERVIEW = "interview"
    FINAL_INTERVIEW = "final_interview"
    REFERENCE_CHECK = "reference_check"
    OFFER_EXTENDED = "offer_extended"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_DECLINED = "offer_declined"
    HIRED = "hired"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ApplicationSource(StrEnum):
    API = "api"
    INTAKE = "intake"


class InterviewKind(StrEnum):
    PHONE = "phone"
    VIDEO = "video"
    ONSITE = "onsite"
    TECHNICAL = "technical"


class InterviewStatus(StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


S = ApplicationStage
# The pipeline, in order: an application moves forward through it, skipping stages
# if needed, never back. From any pipeline stage it can be rejected or withdrawn.
# An offer is extended only through ``POST .../offer`` and answered with accept or
# decline; an accepted offer ends in hired. Offer declined, hired, rejected and
# withdrawn are final.
PIPELINE: tuple[ApplicationStage, ...] = (
    S.SUBMITTED,
    S.UNDER_REVIEW,
    S.PHONE_SCREEN,
    S.ASSESSMENT,
    S.INTERVIEW,
    S.FINAL_INTERVIEW,
    S.REFERENCE_CHECK,
)
FINAL = frozenset({S.OFFER_DECLINED, S.HIRED, S.REJECTED, S.WITHDRAWN})


def allowed_next(stage: ApplicationStage) -> frozenset[ApplicationStage]:
    """The stages ``PATCH .../stage`` may move an application to from ``stage``."""
    if stage in PIPELINE:
        later = PIPELINE[PIPELINE.index(stage) + 1 :]
        return frozenset({*later, S.REJECTED, S.WITHDRAWN})
    if stage == S.OFFER_EXTENDED:
        return frozenset({S.OFFER_ACCEPTED, S.OFFER_DECLINED, S.REJECTED, S.WITHDRAWN})
    if stage == S.OFFER_ACCEPTED:
        return frozenset({S.HIRED, S.WITHDRAWN})
    return frozenset()
