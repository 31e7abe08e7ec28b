"""Consultation metrics, by the hour a consultation was requested."""

from __future__ import annotations

from commbase.analytics.registry import Source, average, count, ratio, register
from commbase.engagement.consultations.enums import ConsultationOutcome, ConsultationStatus
from commbase.engagement.consultations.models import Consultation

CONSULTATIONS = Source(
    "consultations",
    Consultation.__table__,
    org=Consultation.org_id,
    time=Consultation.created_at,
    changed=Consultation.updated_at,
    dimensions={
        "type": Consultation.type,
        "status": Consultation.status,
        "source": Consultation.source,
    },
)

register(
    count("consultations.requested", CONSULTATIONS, "Consultations requested"),
    count(
        "consultations.completed",
        CONSULTATIONS,
        "Consultations requested in the period that took place",
        where=Consultation.status == ConsultationStatus.COMPLETED,
    ),
    count(
        "consultations.won",
        CONSULTATIONS,
        "Consultations whose outcome is won",
        where=Consultation.outcome == ConsultationOutcome.WON,
    ),
    ratio(
        "consultations.completion_rate",
        "consultations.completed",
        "consultations.requested",
        "Completed / requested",
    ),
    average(
        "consultations.feedback_avg",
        CONSULTATIONS,
        Consultation.feedback_rating,
        "Average feedback rating (1-5)",
        unit="rating",
    ),
)
