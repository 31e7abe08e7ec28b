"""Bookings' part in GDPR requests.

A contact's bookings are exported; erasing the contact keeps each booking (the
organization's revenue and schedule stand) but removes the client's name,
phone, email, the AI notes and the cancellation reason, and the link to the
contact. A booking a website visitor made with a user's email (linked to no
contact) is that user's: exported (``bookings.json``) and anonymised the same way,
its visitor access tokens dropped; so is one found by a request about that email
address alone. A staff member's bookings are exported with them
(``bookings_as_staff.json``); erasing the user unlinks them. Runs before contacts
and identity (order 300), which delete the rows these find the bookings through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.engagement.bookings.enums import INTAKE_RECORD_TYPE
from commbase.engagement.bookings.models import Booking
from commbase.engagement.intake.access import forget_access
from commbase.engagement.intake.subjects import left_by_email, user_email
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject

ANONYMISED: dict[str, Any] = {
    "contact_id": None,
    "client_name": None,
    "client_phone": None,
    "client_email": None,
    "ai_notes": None,
    "cancel_reason": None,
}


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Booking)
        .where(Booking.org_id == org_id, Booking.contact_id == subject_id)
        .order_by(Booking.id)
    )
    return {"bookings": as_records(rows)}


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    result = await session.execute(
        update(Booking)
        .where(Booking.org_id == org_id, Booking.contact_id == subject_id)
        .values(**ANONYMISED)
        .execution_options(synchronize_session=False)
    )
    return {"bookings": rowcount(result)}


async def _as_visitor(session: AsyncSession, user_id: str) -> ColumnElement[bool]:
    email = await user_email(session, user_id=user_id)
    return left_by_email(Booking.client_email, email, Booking.contact_id)


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    staff = await session.scalars(
        select(Booking)
        .where(Booking.org_id == org_id, Booking.staff_user_id == subject_id)
        .order_by(Booking.id)
    )
    exported = {"bookings_as_staff": as_records(staff)}
    made = await session.scalars(
        select(Booking)
        .where(Booking.org_id == org_id, await _as_visitor(session, subject_id))
        .order_by(Booking.id)
    )
    exported["bookings"] = as_records(made)
    return exported


async def _anonymise_visits(session: AsyncSession, org_id: str, made: ColumnElement[bool]) -> int:
    """Anonymise the bookings a visitor made and drop their access tokens."""
    ids = list(await session.scalars(select(Booking.id).where(Booking.org_id == org_id, made)))
    await forget_access(session, org_id=org_id, record_type=INTAKE_RECORD_TYPE, record_ids=ids)
    anonymised = await session.execute(
        update(Booking)
        .where(Booking.org_id == org_id, Booking.id.in_(ids))
        .values(**ANONYMISED)
        .execution_options(synchronize_session=False)
    )
    return rowcount(anonymised)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    anonymised = await _anonymise_visits(session, org_id, await _as_visitor(session, subject_id))
    result = await session.execute(
        update(Booking)
        .where(Booking.org_id == org_id, Booking.staff_user_id == subject_id)
        .values(staff_user_id=None)
        .execution_options(synchronize_session=False)
    )
    return {"bookings": rowcount(result) + anonymised}


def _left_by(email: str) -> ColumnElement[bool]:
    return left_by_email(Booking.client_email, email, Booking.contact_id)


async def export_email(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Booking).where(Booking.org_id == org_id, _left_by(subject_id)).order_by(Booking.id)
    )
    return {"bookings": as_records(rows)}


async def erase_email(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return {"bookings": await _anonymise_visits(session, org_id, _left_by(subject_id))}


register_subject(
    "engagement.bookings",
    "contact",
    tables={"bookings"},
    export=export_contact,
    erase=erase_contact,
    order=300,
)
register_subject(
    "engagement.bookings",
    "email",
    tables={"bookings"},
    export=export_email,
    erase=erase_email,
    order=300,
)
register_subject(
    "engagement.bookings",
    "user",
    tables={"bookings"},
    export=export_user,
    erase=erase_user,
    order=300,
)
