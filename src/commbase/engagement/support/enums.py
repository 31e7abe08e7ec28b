"""Support ticket kinds and statuses (seed 002's SupportTicket)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

# The record type of a ticket's visitor access tokens (engagement.intake).
INTAKE_RECORD_TYPE = "support_ticket"


class TicketCategory(StrEnum):
    """Seed 002 counts nine categories without naming them; these are commbase's."""

    TECHNICAL = "technical"
    BILLING = "billing"
    ACCOUNT = "account"
    FEATURE_REQUEST = "feature_request"
    BUG_REPORT = "bug_report"
    INTEGRATION = "integration"
    API = "api"
    SECURITY = "security"
    GENERAL = "general"


class TicketPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting for the customer
    ON_HOLD = "on_hold"  # waiting for someone else (a fix, a third party)
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketSource(StrEnum):
    API = "api"  # staff or an integration, with an API key or session
    INTAKE = "intake"  # a website form, with a publishable key


class AuthorType(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


# Which status may follow which. Resolving records a resolution; a resolved ticket
# reopens (open) or closes; closed is final.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.ON_HOLD}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.ON_HOLD}),
    TicketStatus.ON_HOLD: frozenset({TicketStatus.OPEN, TicketStatus.PENDING}),
    TicketStatus.RESOLVED: frozenset(),
    TicketStatus.CLOSED: frozenset(),
}
ACTIVE = frozenset({TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ON_HOLD})

# Service-level targets per priority: (first staff reply, resolution), from opening.
SLA_TARGETS: dict[TicketPriority, tuple[timedelta, timedelta]] = {
    TicketPriority.URGENT: (timedelta(hours=1), timedelta(hours=8)),
    TicketPriority.HIGH: (timedelta(hours=4), timedelta(hours=24)),
    TicketPriority.MEDIUM: (timedelta(hours=8), timedelta(hours=72)),
    TicketPriority.LOW: (timedelta(hours=24), timedelta(hours=168)),
}


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"
