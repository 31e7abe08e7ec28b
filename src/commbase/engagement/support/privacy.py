"""Support tickets in GDPR requests.

A ticket about a user (``user_id``) or a contact (``contact_id``) is theirs, and so is a
ticket a website visitor opened with the user's email (linked to no user or contact;
a request about that email address alone covers it too):
exported with its whole thread, and deleted on erasure (thread and visitor access tokens with
it). Messages a user wrote as staff in other tickets are exported, and on erasure no
longer name them (the reply stays in the customer's thread). A ticket assigned to an
erased user is unassigned.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core.db import rowcount
from commbase.engagement.intake.access import forget_access
from commbase.engagement.intake.subjects import left_by_email, user_email
from commbase.engagement.support.enums import INTAKE_RECORD_TYPE
from commbase.engagement.support.metrics import TICKETS
from commbase.engagement.support.models import SupportTicket, TicketMessage
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject

TABLES = {"support_tickets", "support_ticket_messages"}


async def _export(
    session: AsyncSession, org_id: str, where: ColumnElement[bool]
) -> dict[str, list[dict[str, Any]]]:
    tickets = (
        await session.scalars(
            select(SupportTicket)
            .where(SupportTicket.org_id == org_id, where)
            .order_by(SupportTicket.id)
        )
    ).all()
    ids = [t.id for t in tickets]
    messages = await session.scalars(
        select(TicketMessage)
        .where(TicketMessage.org_id == org_id, TicketMessage.ticket_id.in_(ids))
        .order_by(TicketMessage.id)
    )
    return {"support_tickets": as_records(tickets), "support_ticket_messages": as_records(messages)}


async def _erase(session: AsyncSession, org_id: str, where: ColumnElement[bool]) -> dict[str, int]:
    rows = (
        await session.execute(
            select(SupportTicket.id, SupportTicket.created_at).where(
                SupportTicket.org_id == org_id, where
            )
        )
    ).all()
    ids = [row.id for row in rows]
    if not ids:
        return {"support_tickets": 0, "support_ticket_messages": 0}
    await touches.touch(session, org_id=org_id, source=TICKETS, times=[r.created_at for r in rows])
    messages = await session.execute(
        delete(TicketMessage).where(
            TicketMessage.org_id == org_id, TicketMessage.ticket_id.in_(ids)
        )
    )
    await forget_access(session, org_id=org_id, record_type=INTAKE_RECORD_TYPE, record_ids=ids)
    tickets = await session.execute(delete(SupportTicket).where(SupportTicket.id.in_(ids)))
    return {
        "support_tickets": rowcount(tickets),
        "support_ticket_messages": rowcount(messages),
    }


async def _of_user(session: AsyncSession, user_id: str) -> ColumnElement[bool]:
    email = await user_email(session, user_id=user_id)
    return or_(
        SupportTicket.user_id == user_id,
        left_by_email(
            SupportTicket.requester_email, email, SupportTicket.user_id, SupportTicket.contact_id
        ),
    )


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    exported = await _export(session, org_id, await _of_user(session, subject_id))
    written = await session.scalars(
        select(TicketMessage)
        .where(TicketMessage.org_id == org_id, TicketMessage.author_user_id == subject_id)
        .order_by(TicketMessage.id)
    )
    exported["support_ticket_messages_written"] = as_records(written)
    return exported


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    erased = await _erase(session, org_id, await _of_user(session, subject_id))
    await session.execute(
        update(TicketMessage)
        .where(TicketMessage.org_id == org_id, TicketMessage.author_user_id == subject_id)
        .values(author_user_id=None)
    )
    await session.execute(
        update(SupportTicket)
        .where(SupportTicket.org_id == org_id, SupportTicket.assignee_id == subject_id)
        .values(assignee_id=None)
    )
    return erased


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, SupportTicket.contact_id == subject_id)


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, SupportTicket.contact_id == subject_id)


def _left_by(email: str) -> ColumnElement[bool]:
    return left_by_email(
        SupportTicket.requester_email, email, SupportTicket.user_id, SupportTicket.contact_id
    )


async def export_email(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, _left_by(subject_id))


async def erase_email(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, _left_by(subject_id))


# Before contacts and identity, whose deletions would unlink the tickets first.
register_subject(
    "engagement.support",
    "user",
    tables=TABLES,
    export=export_user,
    erase=erase_user,
    order=300,
)
register_subject(
    "engagement.support",
    "email",
    tables=TABLES,
    export=export_email,
    erase=erase_email,
    order=300,
)
register_subject(
    "engagement.support",
    "contact",
    tables=TABLES,
    export=export_contact,
    erase=erase_contact,
    order=300,
)
