"""Statuses a booking moves through."""

from __future__ import annotations

from enum import StrEnum


class BookingStatus(StrEnum):
    """pending -> confirmed -> completed; pending or confirmed -> cancelled or no_show."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


# The record type of a visitor's access token (public intake).
INTAKE_RECORD_TYPE = "booking"

# Bookings that hold their resource's (or staff member's) time.
HOLDING = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.COMPLETED)

# The statuses each status may move to.
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.PENDING: frozenset(
        {BookingStatus.CONFIRMED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW}
    ),
    BookingStatus.CONFIRMED: frozenset(
        {BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW}
    ),
    BookingStatus.COMPLETED: frozenset(),
    BookingStatus.CANCELLED: frozenset(),
    BookingStatus.NO_SHOW: frozenset(),
}
