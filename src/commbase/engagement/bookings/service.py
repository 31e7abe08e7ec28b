"""Bookings: make, read, list, change, and move through their statuses.

pending -> confirmed -> completed; pending or confirmed -> cancelled (with a
reason and time) or no_show. Any other move is a 409. Every step records its
event in the outbox; changing the start resets the reminder, so the reminder
job announces the new time once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.bookings import events, scheduling
from commbase.engagement.bookings.enums import TRANSITIONS, BookingStatus
from commbase.engagement.bookings.models import Booking
from commbase.engagement.bookings.schemas import (
    BookingCreate,
    BookingIntake,
    BookingStart,
    BookingUpdate,
)
from commbase.identity import service as identity_service


def _payload(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "status": booking.status,
        "starts_at": booking.starts_at.isoformat(),
        "resource": booking.resource,
        "staff_user_id": booking.staff_user_id,
    }


async def _check_references(
    session: AsyncSession, *, org_id: str, contact_id: str | None, staff_user_id: str | None
) -> None:
    """NotFound unless the contact and the staff member belong to the organization."""
    if contact_id is not None:
        await contacts_service.get_contact(session, org_id=org_id, contact_id=contact_id)
    if staff_user_id is not None:
        await identity_service.get_member_user(session, org_id=org_id, user_id=staff_user_id)


def _start(when: BookingStart, zone: ZoneInfo) -> dt.datetime | None:
    if when.starts_at is not None:
        return when.starts_at
    if when.date is not None and when.time is not None:
        return scheduling.local_start(when.date, when.time, zone)
    return None


async def create_booking(session: AsyncSession, *, org_id: str, data: BookingCreate) -> Booking:
    """Make a booking; Conflict (409) if its resource or staff member is taken then."""
    await _check_references(
        session, org_id=org_id, contact_id=data.contact_id, staff_user_id=data.staff_user_id
    )
    zone = await scheduling.org_zone(session, org_id=org_id)
    starts_at = _start(data, zone)
    assert starts_at is not None  # the schema requires one
    ends_at = starts_at + dt.timedelta(minutes=data.duration_min)
    await scheduling.claim_time(
        session,
        org_id=org_id,
        starts_at=starts_at,
        ends_at=ends_at,
        resource=data.resource,
        staff_user_id=data.staff_user_id,
    )
    now = utcnow()
    booking = Booking(
        org_id=org_id,
        contact_id=data.contact_id,
        conversation_id=data.conversation_id,
        client_name=data.client_name,
        client_phone=data.client_phone,
        client_email=data.client_email,
        service=data.service,
        starts_at=starts_at,
        ends_at=ends_at,
        duration_min=data.duration_min,
        price=data.price,
        currency=data.currency,
        resource=data.resource,
        staff_user_id=data.staff_user_id,
        status=data.status,
        confirmed_at=now if data.status == BookingStatus.CONFIRMED else None,
        ai_notes=data.ai_notes,
    )
    session.add(booking)
    await session.flush()
    await outbox.record(session, events.BOOKING_CREATED, _payload(booking), org_id=org_id)
    return booking


async def create_from_intake(session: AsyncSession, *, org_id: str, data: BookingIntake) -> Booking:
    """A website visitor's booking: pending, priced at zero in the organization's
    currency (staff set the price when confirming), in the future, and refused (409)
    when its resource is taken then, like any booking."""
    zone = await scheduling.org_zone(session, org_id=org_id)
    starts_at = _start(data, zone)
    if starts_at is None or starts_at <= utcnow():
        raise invalid("A booking starts in the future", "starts_at")
    org = await identity_service.get_organization(session, org_id=org_id)
    return await create_booking(
        session,
        org_id=org_id,
        data=BookingCreate(
            starts_at=starts_at,
            service=data.service,
            duration_min=data.duration_min,
            resource=data.resource,
            client_name=data.client_name,
            client_email=data.client_email.lower(),
            client_phone=data.client_phone,
            currency=org.currency,
            status=BookingStatus.PENDING,
        ),
    )


async def get_booking(session: AsyncSession, *, org_id: str, booking_id: str) -> Booking:
    booking = await session.scalar(
        select(Booking).where(Booking.org_id == org_id, Booking.id == booking_id)
    )
    if booking is None:
        raise NotFound("Booking not found")
    return booking


async def list_bookings(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: BookingStatus | None = None,
    resource: str | None = None,
    staff_user_id: str | None = None,
    contact_id: str | None = None,
    starts_from: dt.datetime | None = None,
    starts_before: dt.datetime | None = None,
) -> tuple[Sequence[Booking], str | None]:
    """One page of bookings, newest first, filtered."""
    statement = select(Booking).where(Booking.org_id == org_id)
    if status is not None:
        statement = statement.where(Booking.status == status)
    if resource is not None:
        statement = statement.where(Booking.resource == resource)
    if staff_user_id is not None:
        statement = statement.where(Booking.staff_user_id == staff_user_id)
    if contact_id is not None:
        statement = statement.where(Booking.contact_id == contact_id)
    if starts_from is not None:
        statement = statement.where(Booking.starts_at >= starts_from)
    if starts_before is not None:
        statement = statement.where(Booking.starts_at < starts_before)
    return await paginate(session, statement, id_column=Booking.id, params=params)


async def update_booking(
    session: AsyncSession, *, booking: Booking, changes: BookingUpdate
) -> Booking:
    """Apply ``changes``; a new start, length, resource or staff member is checked for
    overlaps. Only bookings still pending or confirmed can change."""
    if booking.status not in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
        raise Conflict(f"A {booking.status} booking cannot change")
    data = changes.model_dump(exclude_unset=True, exclude={"starts_at", "date", "time"})
    await _check_references(
        session,
        org_id=booking.org_id,
        contact_id=data.get("contact_id"),
        staff_user_id=data.get("staff_user_id"),
    )
    zone = await scheduling.org_zone(session, org_id=booking.org_id)
    starts_at = _start(changes, zone) or booking.starts_at
    duration = data.get("duration_min", booking.duration_min)
    ends_at = starts_at + dt.timedelta(minutes=duration)
    resource = data.get("resource", booking.resource)
    staff = data.get("staff_user_id", booking.staff_user_id)
    moved = (starts_at, ends_at, resource, staff) != (
        booking.starts_at,
        booking.ends_at,
        booking.resource,
        booking.staff_user_id,
    )
    if moved:
        await scheduling.claim_time(
            session,
            org_id=booking.org_id,
            starts_at=starts_at,
            ends_at=ends_at,
            resource=resource,
            staff_user_id=staff,
            booking_id=booking.id,
        )
    if starts_at != booking.starts_at:
        booking.reminder_due_at = None
        booking.reminder_sent = False
    booking.starts_at, booking.ends_at = starts_at, ends_at
    for field, value in data.items():
        setattr(booking, field, value)
    await session.flush()
    fields = sorted(changes.model_fields_set)
    await outbox.record(
        session,
        events.BOOKING_UPDATED,
        {**_payload(booking), "fields": fields},
        org_id=booking.org_id,
    )
    return booking


def _move(booking: Booking, target: BookingStatus) -> None:
    current = BookingStatus(booking.status)
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"A {current} booking cannot become {target}", current=current, target=target
        )
    booking.status = target


async def confirm(session: AsyncSession, *, booking: Booking) -> Booking:
    _move(booking, BookingStatus.CONFIRMED)
    booking.confirmed_at = utcnow()
    await session.flush()
    await outbox.record(session, events.BOOKING_CONFIRMED, _payload(booking), org_id=booking.org_id)
    return booking


async def complete(session: AsyncSession, *, booking: Booking) -> Booking:
    _move(booking, BookingStatus.COMPLETED)
    booking.completed_at = utcnow()
    await session.flush()
    await outbox.record(session, events.BOOKING_COMPLETED, _payload(booking), org_id=booking.org_id)
    return booking


async def cancel(session: AsyncSession, *, booking: Booking, reason: str | None) -> Booking:
    """Cancel; the booking's time is free again."""
    _move(booking, BookingStatus.CANCELLED)
    booking.cancelled_at = utcnow()
    booking.cancel_reason = reason
    await session.flush()
    await outbox.record(
        session,
        events.BOOKING_CANCELLED,
        {**_payload(booking), "reason": reason},
        org_id=booking.org_id,
    )
    return booking


async def mark_no_show(session: AsyncSession, *, booking: Booking) -> Booking:
    _move(booking, BookingStatus.NO_SHOW)
    await session.flush()
    await outbox.record(session, events.BOOKING_NO_SHOW, _payload(booking), org_id=booking.org_id)
    return booking
