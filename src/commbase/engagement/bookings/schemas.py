"""API shapes for bookings: ``BookingCreate`` / ``BookingUpdate`` in, ``BookingRead`` out.

A start is given either as ``starts_at`` (a moment with its offset) or as the
seed's ``date`` + ``time``, read in the organization's time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import BIGINT_MAX, Currency, Name, Phone, UtcDateTime, not_null
from commbase.engagement.bookings.enums import BookingStatus
from commbase.engagement.intake.schemas import IntakeForm

ResourceName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ServiceName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Duration = Annotated[int, Field(ge=1, le=7 * 24 * 60, description="Minutes")]
Price = Annotated[int, Field(ge=0, le=BIGINT_MAX, description="Minor units of the currency")]


class BookingStart(AppSchema):
    starts_at: UtcDateTime | None = None
    date: dt.date | None = Field(default=None, description="Local date, with ``time``")
    time: dt.time | None = Field(default=None, description="Local time (HH:MM), with ``date``")

    @model_validator(mode="after")
    def _one_way_to_say_when(self) -> Self:
        local = (self.date is not None, self.time is not None)
        if local[0] != local[1]:
            raise ValueError("date and time go together")
        if self.starts_at is not None and all(local):
            raise ValueError("give starts_at, or date and time, not both")
        return self


class BookingCreate(BookingStart):
    contact_id: RecordId | None = None
    conversation_id: RecordId | None = None
    client_name: Name | None = None
    client_phone: Phone | None = None
    client_email: EmailStr | None = None
    service: ServiceName
    duration_min: Duration = 60
    price: Price = 0
    currency: Currency
    resource: ResourceName | None = None
    staff_user_id: RecordId | None = None
    ai_notes: Notes | None = None
    status: BookingStatus = Field(default=BookingStatus.PENDING, description="pending or confirmed")

    @model_validator(mode="after")
    def _has_a_start(self) -> Self:
        if self.starts_at is None and self.date is None:
            raise ValueError("starts_at (or date and time) is required")
        if self.status not in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
            raise ValueError("a new booking is pending or confirmed")
        return self


class BookingIntake(IntakeForm, BookingStart):
    """A website visitor's booking request (publishable key, ``intake:bookings``): it
    starts pending, at no price in the organization's currency, until staff confirm."""

    service: ServiceName
    duration_min: Duration = 60
    resource: ResourceName | None = None
    client_name: Name
    client_email: EmailStr
    client_phone: Phone | None = None

    @model_validator(mode="after")
    def _has_a_start(self) -> Self:
        if self.starts_at is None and self.date is None:
            raise ValueError("starts_at (or date and time) is required")
        return self


class BookingUpdate(BookingStart):
    """Fields sent replace stored ones; moving the start or the resource is checked
    for overlaps again."""

    contact_id: RecordId | None = None
    conversation_id: RecordId | None = None
    client_name: Name | None = None
    client_phone: Phone | None = None
    client_email: EmailStr | None = None
    service: ServiceName | None = None
    duration_min: Duration | None = None
    price: Price | None = None
    currency: Currency | None = None
    resource: ResourceName | None = None
    staff_user_id: RecordId | None = None
    ai_notes: Notes | None = None
    confirmation_sent: bool | None = None
    reminder_sent: bool | None = None

    _not_null = field_validator(
        "service", "duration_min", "price", "currency", "confirmation_sent", "reminder_sent"
    )(not_null)


class BookingCancel(AppSchema):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class BookingRead(ReadSchema):
    id: str
    contact_id: str | None
    conversation_id: str | None
    client_name: str | None
    client_phone: str | None
    client_email: str | None
    service: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    local_date: dt.date = Field(description="The start's date in the organization's time zone")
    # A string, not a ``time``: JSON Schema's time format demands an offset, and this is
    # the wall-clock time in ``timezone``.
    local_time: str = Field(
        pattern=r"^\d{2}:\d{2}:\d{2}$",
        description="The start's wall-clock time (HH:MM:SS) in the organization's time zone",
    )
    timezone: str
    duration_min: int
    price: int
    currency: str
    resource: str | None
    staff_user_id: str | None
    status: BookingStatus
    confirmation_sent: bool
    reminder_sent: bool
    reminder_due_at: dt.datetime | None
    ai_notes: str | None
    confirmed_at: dt.datetime | None
    completed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CalendarFeedCreate(AppSchema):
    name: Name = "Bookings"
    resource: ResourceName | None = Field(
        default=None, description="Only this resource's bookings; none: every booking"
    )


class CalendarFeedRead(ReadSchema):
    id: str
    name: str
    resource: str | None
    token_prefix: str
    created_at: dt.datetime


class CalendarFeedCreated(CalendarFeedRead):
    url: str = Field(description="The secret feed URL; shown once")


class BookingPublic(ReadSchema):
    """What a visitor's access token shows of their booking."""

    id: str
    service: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    local_date: dt.date
    local_time: str = Field(pattern=r"^\d{2}:\d{2}:\d{2}$")
    timezone: str
    duration_min: int
    resource: str | None
    status: BookingStatus
    client_name: str | None
    confirmed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_reason: str | None
    created_at: dt.datetime
