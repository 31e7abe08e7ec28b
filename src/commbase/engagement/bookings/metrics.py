"""Booking metrics: bookings made, cancelled, no-shows, booking revenue.

A booking counts in the hour it was made (``created_at``); its status can change
later, which moves ``updated_at``, so the hour is folded again. Revenue is the
price of completed bookings, in minor units, split by currency (a dimension):
amounts in different currencies are never added together by the API unless a
caller asks for the total without a split.
"""

from __future__ import annotations

from commbase.analytics.registry import Source, count, register, total
from commbase.engagement.bookings.enums import BookingStatus
from commbase.engagement.bookings.models import Booking

BOOKINGS = Source(
    "bookings",
    Booking.__table__,
    org=Booking.org_id,
    time=Booking.created_at,
    changed=Booking.updated_at,
    dimensions={
        "status": Booking.status,
        "currency": Booking.currency,
        "resource": Booking.resource,
        "staff": Booking.staff_user_id,
    },
)

register(
    count("bookings.made", BOOKINGS, "Bookings made"),
    count(
        "bookings.cancelled",
        BOOKINGS,
        "Bookings made that are cancelled now",
        where=Booking.status == BookingStatus.CANCELLED,
    ),
    count(
        "bookings.no_shows",
        BOOKINGS,
        "Bookings made whose client did not come",
        where=Booking.status == BookingStatus.NO_SHOW,
    ),
    count(
        "bookings.completed",
        BOOKINGS,
        "Bookings made that took place",
        where=Booking.status == BookingStatus.COMPLETED,
    ),
    total(
        "bookings.revenue",
        BOOKINGS,
        Booking.price,
        "Price of completed bookings",
        where=Booking.status == BookingStatus.COMPLETED,
        unit="minor",
    ),
)
