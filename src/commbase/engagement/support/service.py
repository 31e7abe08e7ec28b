"""Support tickets: open (staff or a website form), read, list, change, and the thread.

Lifecycle (``enums.TRANSITIONS``): open, pending and on hold move between each other
(``update_ticket``); any of them can be resolved (``resolve``, with a resolution);
a resolved ticket is reopened (``reopen``) or closed (``close``); a ticket not yet
closed can be closed at once (a visitor withdrawing it). Closed is final. The
customer rates a resolved or closed ticket once (``rate``).

A customer's reply to a pending or on-hold ticket reopens it (``open``); the first
staff reply that is not an internal note stops the first-response clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.support import events, sla
from commbase.engagement.support.enums import (
    ACTIVE,
    TRANSITIONS,
    AuthorType,
    TicketSource,
    TicketStatus,
)
from commbase.engagement.support.models import SupportTicket, TicketMessage
from commbase.engagement.support.numbering import next_number
from commbase.engagement.support.schemas import (
    SatisfactionCreate,
    TicketCreate,
    TicketIntake,
    TicketUpdate,
)
from commbase.identity import service as identity_service


async def _announce(session: AsyncSession, event_type: str, ticket: SupportTicket) -> None:
    payload: dict[str, Any] = {
        "id": ticket.id,
        "number": ticket.number,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "assignee_id": ticket.assignee_id,
    }
    if event_type == events.TICKET_CREATED:
        payload["source"] = ticket.source
    await outbox.record(session, event_type, payload, org_id=ticket.org_id)


async def _check_people(
    session: AsyncSession,
    *,
    org_id: str,
    user_id: str | None = None,
    contact_id: str | None = None,
    assignee_id: str | None = None,
) -> None:
    """Named users and contacts must be the organization's own (404 otherwise)."""
    for member in (user_id, assignee_id):
        if member is not None:
            await identity_service.get_member_user(session, org_id=org_id, user_id=member)
    if contact_id is not None:
        await contacts_service.get_contact(session, org_id=org_id, contact_id=contact_id)


async def _open(session: AsyncSession, ticket: SupportTicket) -> SupportTicket:
    ticket.number = await next_number(session, org_id=ticket.org_id)
    ticket.status = TicketStatus.OPEN
    ticket.created_at = utcnow()
    await sla.set_due_dates(session, ticket)
    session.add(ticket)
    await session.flush()
    await _announce(session, events.TICKET_CREATED, ticket)
    return ticket


async def create_ticket(session: AsyncSession, *, org_id: str, data: TicketCreate) -> SupportTicket:
    """Open a ticket for staff or an integration."""
    await _check_people(
        session,
        org_id=org_id,
        user_id=data.user_id,
        contact_id=data.contact_id,
        assignee_id=data.assignee_id,
    )
    ticket = SupportTicket(
        org_id=org_id,
        source=TicketSource.API,
        **data.model_dump(),
    )
    if ticket.requester_email:
        ticket.requester_email = ticket.requester_email.lower()
    return await _open(session, ticket)


async def create_from_intake(
    session: AsyncSession, *, org_id: str, data: TicketIntake
) -> SupportTicket:
    """Open a ticket from a website form."""
    ticket = SupportTicket(
        org_id=org_id,
        source=TicketSource.INTAKE,
        **data.model_dump(exclude={"website"}),
    )
    ticket.requester_email = data.requester_email.lower()
    return await _open(session, ticket)


async def get_ticket(session: AsyncSession, *, org_id: str, ticket_id: str) -> SupportTicket:
    ticket = await session.scalar(
        select(SupportTicket).where(SupportTicket.org_id == org_id, SupportTicket.id == ticket_id)
    )
    if ticket is None:
        raise NotFound("Ticket not found")
    return ticket


async def get_for_update(session: AsyncSession, *, org_id: str, ticket_id: str) -> SupportTicket:
    """The ticket, locked for this transaction (PostgreSQL): lifecycle steps serialize."""
    ticket = await session.scalar(
        select(SupportTicket)
        .where(SupportTicket.org_id == org_id, SupportTicket.id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if ticket is None:
        raise NotFound("Ticket not found")
    return ticket


async def list_tickets(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: TicketStatus | None = None,
    priority: str | None = None,
    category: str | None = None,
    assignee_id: str | None = None,
    user_id: str | None = None,
    contact_id: str | None = None,
    email: str | None = None,
    number: int | None = None,
) -> tuple[Sequence[SupportTicket], str | None]:
    statement: Select[Any] = select(SupportTicket).where(SupportTicket.org_id == org_id)
    filters = {
        SupportTicket.status: status,
        SupportTicket.priority: priority,
        SupportTicket.category: category,
        SupportTicket.assignee_id: assignee_id,
        SupportTicket.user_id: user_id,
        SupportTicket.contact_id: contact_id,
        SupportTicket.requester_email: email.lower() if email else None,
        SupportTicket.number: number,
    }
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    return await paginate(session, statement, id_column=SupportTicket.id, params=params)


async def update_ticket(
    session: AsyncSession, *, ticket: SupportTicket, changes: TicketUpdate
) -> SupportTicket:
    data = changes.model_dump(exclude_unset=True)
    await _check_people(
        session,
        org_id=ticket.org_id,
        user_id=data.get("user_id"),
        contact_id=data.get("contact_id"),
        assignee_id=data.get("assignee_id"),
    )
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict("A closed ticket cannot be changed")
    new_status = data.pop("status", None)
    if new_status is not None and new_status != ticket.status:
        if new_status not in TRANSITIONS[TicketStatus(ticket.status)]:
            raise Conflict(
                f"A {ticket.status} ticket cannot become {new_status}; resolve, close and "
                "reopen have their own routes",
                current_status=ticket.status,
            )
        ticket.status = new_status
        await _announce(session, events.TICKET_STATUS_CHANGED, ticket)
    reassigned = "assignee_id" in data and data["assignee_id"] != ticket.assignee_id
    details = {k: v for k, v in data.items() if getattr(ticket, k) != v}
    for field, value in data.items():
        setattr(ticket, field, value)
    if "priority" in details:
        await sla.set_due_dates(session, ticket)
    await session.flush()
    if reassigned:
        await _announce(session, events.TICKET_ASSIGNED, ticket)
    if set(details) & {"subject", "category", "priority", "user_id", "contact_id"}:
        await _announce(session, events.TICKET_UPDATED, ticket)
    return ticket


async def add_message(
    session: AsyncSession,
    *,
    ticket: SupportTicket,
    author_type: AuthorType,
    body: str,
    author_user_id: str | None = None,
    internal: bool = False,
) -> TicketMessage:
    """Add to the thread; a customer's reply reopens a pending or on-hold ticket."""
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict("A closed ticket takes no more messages")
    now = utcnow()
    message = TicketMessage(
        org_id=ticket.org_id,
        ticket_id=ticket.id,
        author_type=author_type,
        author_user_id=author_user_id,
        body=body,
        internal=internal,
        created_at=now,
    )
    session.add(message)
    if author_type == AuthorType.STAFF and not internal and ticket.first_responded_at is None:
        ticket.first_responded_at = now
        ticket.first_response_s = int((now - ticket.created_at).total_seconds())
    reopened = author_type == AuthorType.CUSTOMER and ticket.status in (
        TicketStatus.PENDING,
        TicketStatus.ON_HOLD,
    )
    if reopened:
        ticket.status = TicketStatus.OPEN
    ticket.updated_at = now
    await session.flush()
    await outbox.record(
        session,
        events.TICKET_MESSAGE_ADDED,
        {
            "id": ticket.id,
            "number": ticket.number,
            "message_id": message.id,
            "author_type": author_type.value,
            "internal": internal,
        },
        org_id=ticket.org_id,
    )
    if reopened:
        await _announce(session, events.TICKET_STATUS_CHANGED, ticket)
    return message


async def list_messages(
    session: AsyncSession,
    *,
    ticket: SupportTicket,
    params: PageParams,
    include_internal: bool,
) -> tuple[Sequence[TicketMessage], str | None]:
    statement = select(TicketMessage).where(
        TicketMessage.org_id == ticket.org_id, TicketMessage.ticket_id == ticket.id
    )
    if not include_internal:
        statement = statement.where(TicketMessage.internal.is_(False))
    return await paginate(session, statement, id_column=TicketMessage.id, params=params)


async def resolve(
    session: AsyncSession, *, ticket: SupportTicket, resolution: str
) -> SupportTicket:
    if ticket.status not in ACTIVE:
        raise Conflict(f"A {ticket.status} ticket cannot be resolved", current_status=ticket.status)
    now = utcnow()
    ticket.status = TicketStatus.RESOLVED
    ticket.resolution = resolution
    ticket.resolved_at = now
    ticket.resolution_s = int((now - ticket.created_at).total_seconds())
    await session.flush()
    await _announce(session, events.TICKET_RESOLVED, ticket)
    return ticket


async def reopen(session: AsyncSession, *, ticket: SupportTicket) -> SupportTicket:
    if ticket.status != TicketStatus.RESOLVED:
        raise Conflict(f"Only a resolved ticket reopens; this one is {ticket.status}")
    ticket.status = TicketStatus.OPEN
    ticket.resolved_at = None
    ticket.resolution_s = None
    await session.flush()
    await _announce(session, events.TICKET_REOPENED, ticket)
    return ticket


async def close(session: AsyncSession, *, ticket: SupportTicket) -> SupportTicket:
    """Close the ticket (final): after resolution, or withdrawn before it."""
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict("The ticket is already closed")
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = utcnow()
    await session.flush()
    await _announce(session, events.TICKET_CLOSED, ticket)
    return ticket


async def rate(
    session: AsyncSession, *, ticket: SupportTicket, data: SatisfactionCreate
) -> SupportTicket:
    """Record the customer's satisfaction, once, after resolution."""
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED) or (
        ticket.resolved_at is None
    ):
        raise Conflict("A ticket is rated once it is resolved")
    if ticket.satisfaction_rating is not None:
        raise Conflict("This ticket has been rated already")
    ticket.satisfaction_rating = data.rating
    ticket.satisfaction_comment = data.comment
    ticket.rated_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        events.TICKET_RATED,
        {"id": ticket.id, "number": ticket.number, "rating": data.rating},
        org_id=ticket.org_id,
    )
    return ticket
