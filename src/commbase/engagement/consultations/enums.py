"""Consultation kinds, statuses and outcomes (seed 002's Consultation)."""

from __future__ import annotations

from enum import StrEnum

# The record type of a consultation's visitor access tokens (engagement.intake).
INTAKE_RECORD_TYPE = "consultation"


class ConsultationType(StrEnum):
    """Seed 002 counts seven consultation types without naming them; these are commbase's."""

    PRODUCT_DEMO = "product_demo"
    TECHNICAL = "technical"
    ENTERPRISE_SALES = "enterprise_sales"
    INTEGRATION = "integration"
    CUSTOM_SOLUTION = "custom_solution"
    TRAINING = "training"
    PARTNERSHIP = "partnership"


class ConsultationStatus(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class ConsultationOutcome(StrEnum):
    WON = "won"
    PROPOSAL_SENT = "proposal_sent"
    FOLLOW_UP = "follow_up"
    NOT_A_FIT = "not_a_fit"
    NO_DECISION = "no_decision"


class ConsultationSource(StrEnum):
    API = "api"
    INTAKE = "intake"


# requested -> scheduled (again to reschedule) -> completed | no_show;
# requested or scheduled -> cancelled. Completed, cancelled and no-show are final.
OPEN = frozenset({ConsultationStatus.REQUESTED, ConsultationStatus.SCHEDULED})
