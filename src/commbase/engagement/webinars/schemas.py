"""API shapes for webinars and registrations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, HttpUrl, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Name, ShortText, UtcDateTime, not_null
from commbase.engagement.intake.schemas import IntakeForm
from commbase.engagement.webinars.enums import (
    RegistrationSource,
    RegistrationStatus,
    WebinarStatus,
)

RecordId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
Duration = Annotated[int, Field(ge=1, le=24 * 60, description="Minutes")]
Capacity = Annotated[int, Field(ge=1, le=1_000_000, description="Registrations at most")]
Comment = Annotated[str, StringConstraints(max_length=5_000)]
Increment = Annotated[int, Field(ge=0, le=10_000)]


class WebinarCreate(AppSchema):
    title: Title
    description: Description | None = None
    starts_at: UtcDateTime
    duration_min: Duration = 60
    capacity: Capacity | None = None
    join_url: HttpUrl | None = None


class WebinarUpdate(AppSchema):
    title: Title | None = None
    description: Description | None = None
    starts_at: UtcDateTime | None = None
    duration_min: Duration | None = None
    capacity: Capacity | None = None
    join_url: HttpUrl | None = None

    _required = field_validator("title", "starts_at", "duration_min")(not_null)


class WebinarRead(ReadSchema):
    id: str
    title: str
    description: str | None
    starts_at: datetime
    duration_min: int
    capacity: int | None
    join_url: str | None
    status: WebinarStatus
    registered: int = Field(description="Registrations not cancelled")
    created_at: datetime
    updated_at: datetime


class RegistrationFields(AppSchema):
    email: EmailStr
    name: Name | None = None
    company: ShortText | None = None


class RegistrationCreate(RegistrationFields):
    """Staff registering someone (the seed's ``POST /api/webinars/register``)."""

    user_id: RecordId | None = None
    contact_id: RecordId | None = None


class RegistrationIntake(IntakeForm, RegistrationFields):
    """A visitor signing up on the website."""

    webinar_id: RecordId


class Engagement(AppSchema):
    """Counts to add to a registration's engagement."""

    questions_asked: Increment = 0
    polls_answered: Increment = 0
    chat_messages: Increment = 0


class Feedback(AppSchema):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Comment | None = None


class RegistrationRead(ReadSchema):
    id: str
    webinar_id: str
    user_id: str | None
    contact_id: str | None
    email: str
    name: str | None
    company: str | None
    source: RegistrationSource
    status: RegistrationStatus
    joined_at: datetime | None
    left_at: datetime | None
    in_session_since: datetime | None
    minutes_attended: int
    questions_asked: int
    polls_answered: int
    chat_messages: int
    feedback_rating: int | None
    feedback_comment: str | None
    feedback_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RegistrationPublic(ReadSchema):
    """What the visitor's access token shows: their registration and the webinar's time."""

    id: str
    webinar_id: str
    email: str
    name: str | None
    status: RegistrationStatus
    minutes_attended: int
    feedback_rating: int | None
    cancelled_at: datetime | None
    created_at: datetime
