"""Event types bookings record in the outbox (ids and times only: no personal data)."""

from __future__ import annotations

from datetime import datetime

from commbase.core.events import EventPayload, define


class BookingEvent(EventPayload):
    id: str
    status: str
    starts_at: datetime
    resource: str | None
    staff_user_id: str | None


class BookingUpdated(BookingEvent):
    fields: list[str]


class BookingCancelled(BookingEvent):
    reason: str | None


class BookingReminderDue(BookingEvent):
    contact_id: str | None
    conversation_id: str | None


BOOKING_CREATED = define("booking.created", BookingEvent, "A booking was made.")
BOOKING_UPDATED = define("booking.updated", BookingUpdated, "A booking's details changed.")
BOOKING_CONFIRMED = define("booking.confirmed", BookingEvent, "A booking was confirmed.")
BOOKING_COMPLETED = define("booking.completed", BookingEvent, "A booking took place.")
BOOKING_CANCELLED = define("booking.cancelled", BookingCancelled, "A booking was cancelled.")
BOOKING_NO_SHOW = define("booking.no_show", BookingEvent, "The client did not come.")
BOOKING_REMINDER_DUE = define(
    "booking.reminder_due",
    BookingReminderDue,
    "A booking starts within the reminder lead time: remind the client (once per start).",
)
