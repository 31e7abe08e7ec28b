"""Event types support tickets record in the outbox, one per lifecycle step."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class TicketEvent(EventPayload):
    id: str
    number: int
    status: str
    priority: str | None = None
    category: str | None = None
    assignee_id: str | None = None
    source: str | None = None


class TicketMessageEvent(EventPayload):
    id: str
    number: int
    message_id: str
    author_type: str
    internal: bool


class TicketRated(EventPayload):
    id: str
    number: int
    rating: int


class TicketSlaBreached(EventPayload):
    id: str
    number: int
    target: str  # first_response | resolution
    due_at: str
    priority: str


TICKET_CREATED = define("ticket.created", TicketEvent, "A support ticket was opened.")
TICKET_UPDATED = define(
    "ticket.updated", TicketEvent, "A ticket's subject, category or priority changed."
)
TICKET_ASSIGNED = define("ticket.assigned", TicketEvent, "A ticket's assignee changed.")
TICKET_STATUS_CHANGED = define(
    "ticket.status_changed", TicketEvent, "A ticket moved between open, pending and on hold."
)
TICKET_MESSAGE_ADDED = define(
    "ticket.message_added", TicketMessageEvent, "A message or internal note joined a ticket."
)
TICKET_RESOLVED = define("ticket.resolved", TicketEvent, "A ticket was resolved.")
TICKET_REOPENED = define("ticket.reopened", TicketEvent, "A resolved ticket was reopened.")
TICKET_CLOSED = define("ticket.closed", TicketEvent, "A ticket was closed.")
TICKET_RATED = define("ticket.rated", TicketRated, "The customer rated a resolved ticket.")
TICKET_SLA_BREACHED = define(
    "ticket.sla_breached",
    TicketSlaBreached,
    "A ticket passed its first-response or resolution target without meeting it.",
)
