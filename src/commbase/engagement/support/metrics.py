"""Support metrics, by the hour a ticket was opened: tickets opened and resolved,
first-response and resolution times, satisfaction."""

from __future__ import annotations

from commbase.analytics.registry import (
    Entry,
    Source,
    average,
    count,
    ratio,
    register,
    register_section,
)
from commbase.engagement.support.models import SupportTicket

# Every change to a ticket moves ``updated_at`` (add_message touches it too).
TICKETS = Source(
    "support_tickets",
    SupportTicket.__table__,
    org=SupportTicket.org_id,
    time=SupportTicket.created_at,
    changed=SupportTicket.updated_at,
    dimensions={
        "category": SupportTicket.category,
        "priority": SupportTicket.priority,
        "status": SupportTicket.status,
        "source": SupportTicket.source,
    },
)

register(
    count("tickets.opened", TICKETS, "Support tickets opened"),
    count(
        "tickets.resolved",
        TICKETS,
        "Tickets opened in the period that are resolved (or closed after resolution) now",
        where=SupportTicket.resolved_at.is_not(None),
    ),
    ratio("tickets.resolution_rate", "tickets.resolved", "tickets.opened", "Resolved / opened"),
    average(
        "tickets.first_response_time_avg",
        TICKETS,
        SupportTicket.first_response_s,
        "Average time from opening to the first staff reply",
        unit="s",
    ),
    average(
        "tickets.resolution_time_avg",
        TICKETS,
        SupportTicket.resolution_s,
        "Average time from opening to resolution",
        unit="s",
    ),
    average(
        "tickets.satisfaction_avg",
        TICKETS,
        SupportTicket.satisfaction_rating,
        "Average satisfaction rating (1-5)",
        unit="rating",
    ),
    count(
        "tickets.sla_breached",
        TICKETS,
        "Tickets that passed a first-response or resolution target",
        where=SupportTicket.first_response_breached_at.is_not(None)
        | SupportTicket.resolution_breached_at.is_not(None),
    ),
)
register_section(
    "support",
    {
        "ticketsOpened": "tickets.opened",
        "ticketsResolved": "tickets.resolved",
        "avgFirstResponseTime": "tickets.first_response_time_avg",
        "avgResolutionTime": "tickets.resolution_time_avg",
        "satisfaction": "tickets.satisfaction_avg",
        "totalTickets": Entry("tickets.opened", cumulative=True),
    },
)
