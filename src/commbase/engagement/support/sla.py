"""Service-level targets: when a ticket's first reply and resolution are due, and the
``ticket.sla_breached`` event for each target a ticket passes unmet (once per target).

Each organization may set its own targets per priority (``PUT /v1/support/sla-targets``);
a priority it has not set uses ``enums.SLA_TARGETS``. A ticket's due dates are fixed
when it opens (and when its priority changes), so new targets apply to tickets opened
or re-prioritised after the change; the breach job reads the stored due dates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.engagement.support import events
from commbase.engagement.support.enums import ACTIVE, SLA_TARGETS, SlaTarget, TicketPriority
from commbase.engagement.support.models import SlaTargets, SupportTicket

BATCH = 500


Targets = dict[TicketPriority, tuple[timedelta, timedelta]]


async def targets_of(session: AsyncSession, *, org_id: str) -> tuple[Targets, set[TicketPriority]]:
    """The organization's (first response, resolution) targets for every priority, and
    the priorities it set itself."""
    targets = dict(SLA_TARGETS)
    own: set[TicketPriority] = set()
    rows = await session.scalars(select(SlaTargets).where(SlaTargets.org_id == org_id))
    for row in rows:
        priority = TicketPriority(row.priority)
        targets[priority] = (
            timedelta(minutes=row.first_response_min),
            timedelta(minutes=row.resolution_min),
        )
        own.add(priority)
    return targets, own


async def replace_targets(
    session: AsyncSession, *, org_id: str, targets: dict[TicketPriority, tuple[int, int]]
) -> None:
    """Set the organization's targets (minutes) to ``targets``; priorities left out go
    back to the defaults."""
    await session.execute(delete(SlaTargets).where(SlaTargets.org_id == org_id))
    for priority, (first_response, resolution) in sorted(targets.items()):
        session.add(
            SlaTargets(
                org_id=org_id,
                priority=priority.value,
                first_response_min=first_response,
                resolution_min=resolution,
            )
        )
    await session.flush()


async def set_due_dates(session: AsyncSession, ticket: SupportTicket) -> None:
    """Targets count from the ticket's opening, by its current priority and its
    organization's targets."""
    targets, _ = await targets_of(session, org_id=ticket.org_id)
    first_response, resolution = targets[TicketPriority(ticket.priority)]
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
