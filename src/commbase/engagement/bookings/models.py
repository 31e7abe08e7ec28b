"""Bookings (ChciAI ``bookings``) and the secret iCalendar feeds that publish them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_org_starts", "org_id", "starts_at"),
        Index("ix_bookings_org_updated", "org_id", "updated_at"),
        Index("ix_bookings_org_resource_starts", "org_id", "resource", "starts_at"),
        Index("ix_bookings_org_staff_starts", "org_id", "staff_user_id", "starts_at"),
        Index("ix_bookings_org_contact", "org_id", "contact_id"),
    )

    id: Mapped[str] = public_id("bkg")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    # The messaging conversation the booking came from (messaging owns that id).
    conversation_id: Mapped[str | None] = mapped_column(String(40))
    client_name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    client_phone: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)  # E.164
    client_email: Mapped[str | None] = mapped_column(String(320), info=PERSONAL)
    service: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    duration_min: Mapped[int]
    price: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    # What the booking occupies: a named resource (a room, a chair) and/or a staff member.
    resource: Mapped[str | None] = mapped_column(String(100))
    staff_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20))
    confirmation_sent: Mapped[bool] = mapped_column(default=False)
    reminder_sent: Mapped[bool] = mapped_column(default=False)
    # When the reminder job announced ``booking.reminder_due`` (once per start time).
    reminder_due_at: Mapped[datetime | None]
    ai_notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    confirmed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CalendarFeed(Base):
    """A secret URL publishing an organization's (or one resource's) bookings as iCalendar."""

    __tablename__ = "booking_calendar_feeds"
    __table_args__ = (Index("ix_booking_calendar_feeds_org", "org_id"),)

    id: Mapped[str] = public_id("calf")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str | None] = mapped_column(String(100))  # None: every booking
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at_column()
