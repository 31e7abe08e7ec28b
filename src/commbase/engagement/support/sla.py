"""Service-level targets: when a ticket's first reply and resolution are due, and the
``ticket.sla_breached`` event for each target a ticket passes unmet (once per target)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.engagement.support import events
from commbase.engagement.support.enums import ACTIVE, SLA_TARGETS, SlaTarget, TicketPriority
from commbase.engagement.support.models import SupportTicket

BATCH = 500


def set_due_dates(ticket: SupportTicket) -> None:
    """Targets count from the ticket's opening, by its current priority."""
    first_response, resolution = SLA_TARGETS[TicketPriority(ticket.priority)]
    ticket.first_response_due_at = ticket.created_at + first_response
    ticket.resolution_due_at = ticket.created_at + resolution


async def record_breaches(session: AsyncSession, *, now: datetime, org_id: str | None) -> int:
    """Mark and announce targets passed unmet by ``now``; returns how many."""
    first_due = and_(
        SupportTicket.first_responded_at.is_(None),
        SupportTicket.first_response_breached_at.is_(None),
        SupportTicket.first_response_due_at <= now,
    )
    resolution_due = and_(
        SupportTicket.resolution_breached_at.is_(None),
        SupportTicket.resolution_due_at <= now,
    )
    statement = select(SupportTicket).where(
        SupportTicket.status.in_(list(ACTIVE)), or_(first_due, resolution_due)
    )
    if org_id is not None:
        statement = statement.where(SupportTicket.org_id == org_id)
    tickets = (await session.scalars(statement.order_by(SupportTicket.id).limit(BATCH))).all()
    breaches = 0
    for ticket in tickets:
        if (
            ticket.first_responded_at is None
            and ticket.first_response_breached_at is None
            and ticket.first_response_due_at <= now
        ):
            ticket.first_response_breached_at = now
            await _announce(session, ticket, SlaTarget.FIRST_RESPONSE, ticket.first_response_due_at)
            breaches += 1
        if ticket.resolution_breached_at is None and ticket.resolution_due_at <= now:
            ticket.resolution_breached_at = now
            await _announce(session, ticket, SlaTarget.RESOLUTION, ticket.resolution_due_at)
            breaches += 1
    await session.flush()
    return breaches


async def _announce(
    session: AsyncSession, ticket: SupportTicket, target: SlaTarget, due_at: datetime
) -> None:
    await outbox.record(
        session,
        events.TICKET_SLA_BREACHED,
        {
            "id": ticket.id,
            "number": ticket.number,
            "target": target.value,
            "due_at": due_at.isoformat(),
            "priority": ticket.priority,
        },
        org_id=ticket.org_id,
    )
