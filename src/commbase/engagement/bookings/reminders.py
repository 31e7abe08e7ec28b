"""``booking.reminder_due``: announced once per booking start, ``lead`` before it.

A booking still pending or confirmed whose start is less than the lead time away
(and still ahead) is stamped with ``reminder_due_at`` and its event recorded in
the same transaction: a booking already stamped is never announced again, unless
its start moves (which clears the stamp). The UPDATE only stamps rows still
unstamped, so two runs that overlap cannot both announce one booking.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import rowcount
from commbase.engagement.bookings import events
from commbase.engagement.bookings.enums import BookingStatus
from commbase.engagement.bookings.models import Booking

BATCH = 200


async def announce_due(
    session: AsyncSession, *, now: dt.datetime, lead: dt.timedelta, org_id: str | None = None
) -> int:
    """Announce up to ``BATCH`` due reminders; returns how many."""
    statement = select(Booking).where(
        Booking.status.in_((BookingStatus.PENDING, BookingStatus.CONFIRMED)),
        Booking.reminder_due_at.is_(None),
        Booking.starts_at > now,
        Booking.starts_at <= now + lead,
    )
    if org_id is not None:
        statement = statement.where(Booking.org_id == org_id)
    due = (await session.scalars(statement.order_by(Booking.starts_at).limit(BATCH))).all()
    announced = 0
    for booking in due:
        stamped = await session.execute(
            update(Booking)
            .where(Booking.id == booking.id, Booking.reminder_due_at.is_(None))
            .values(reminder_due_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(stamped) != 1:
            continue
        await outbox.record(
            session,
            events.BOOKING_REMINDER_DUE,
            {
                "id": booking.id,
                "status": booking.status,
                "starts_at": booking.starts_at.isoformat(),
                "resource": booking.resource,
                "staff_user_id": booking.staff_user_id,
                "contact_id": booking.contact_id,
                "conversation_id": booking.conversation_id,
            },
            org_id=booking.org_id,
        )
        announced += 1
    return announced
