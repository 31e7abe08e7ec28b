"""Bookings' part in GDPR requests.

A contact's bookings are exported; erasing the contact keeps each booking (the
organization's revenue and schedule stand) but removes the client's name,
phone, email, the AI notes and the cancellation reason, and the link to the
contact. A staff member's bookings are exported with them; erasing the user
unlinks them. Runs before contacts and identity (order 300), which delete the rows
these find the bookings through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.engagement.bookings.models import Booking
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


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Booking)
        .where(Booking.org_id == org_id, Booking.staff_user_id == subject_id)
        .order_by(Booking.id)
    )
    return {"bookings_as_staff": as_records(rows)}


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    result = await session.execute(
        update(Booking)
        .where(Booking.org_id == org_id, Booking.staff_user_id == subject_id)
        .values(staff_user_id=None)
        .execution_options(synchronize_session=False)
    )
    return {"bookings": rowcount(result)}


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
    "user",
    tables={"bookings"},
    export=export_user,
    erase=erase_user,
    order=300,
)
