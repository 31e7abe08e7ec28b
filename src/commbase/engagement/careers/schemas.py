"""Careers shapes: positions, applications (staff and visitor), interviews, offers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import BIGINT_MAX, Currency, Phone, UtcDateTime, not_null
from commbase.engagement.careers.enums import (
    ApplicationSource,
    ApplicationStage,
    EmploymentType,
    InterviewKind,
    InterviewStatus,
    PositionStatus,
)
from commbase.engagement.intake.schemas import IntakeForm

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
WebUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=500, pattern=r"^https?://[^\s]+$")
]


class PositionCreate(AppSchema):
    title: Title
    department: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    location: Title | None = None
    employment_type: EmploymentType = EmploymentType.FULL_TIME
    remote: bool = False
    description: LongText | None = None


class PositionUpdate(AppSchema):
    title: Title | None = None
    department: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    location: Title | None = None
    employment_type: EmploymentType | None = None
    remote: bool | None = None
    description: LongText | None = None
    status: PositionStatus | None = None

    _required = field_validator("title", "employment_type", "remote", "status")(not_null)


class PositionRead(ReadSchema):
    id: str
    title: str
    department: str | None
    location: str | None
    employment_type: EmploymentType
    remote: bool
    description: str | None
    status: PositionStatus
    created_at: datetime


class Applicant(AppSchema):
    position_id: RecordId
    first_name: Name
    last_name: Name
    email: EmailStr
    phone: Phone | None = None
    linkedin_url: WebUrl | None = None
    portfolio_url: WebUrl | None = None
    cover_letter: LongText | None = None


class ApplicationCreate(Applicant):
    user_id: RecordId | None = None
    contact_id: RecordId | None = None


class ApplicationIntake(IntakeForm, Applicant):
    """An application from the careers page (publishable key); the resume follows with
    ``PUT /v1/intake/careers/application/resume``."""


class StageChange(AppSchema):
    stage: ApplicationStage
    reason: Reason | None = Field(default=None, description="Why, when rejecting")


class OfferCreate(AppSchema):
    salary: Annotated[int, Field(ge=0, le=BIGINT_MAX)] = Field(
        description="Yearly, in minor units of the currency"
    )
    currency: Currency
    start_date: date | None = None
    expires_at: UtcDateTime | None = None


class Withdrawal(AppSchema):
    reason: Reason | None = None


class ApplicationPublic(ReadSchema):
    """What the applicant sees of their application."""

    id: str
    position_id: str
    stage: ApplicationStage
    first_name: str
    last_name: str
    email: str
    resume_filename: str | None
    resume_size: int | None
    offer_salary: int | None
    offer_currency: str | None
    offer_start_date: date | None
    offer_expires_at: datetime | None
    created_at: datetime


class ApplicationRead(ApplicationPublic):
    source: ApplicationSource
    phone: str | None
    linkedin_url: str | None
    portfolio_url: str | None
    cover_letter: str | None
    user_id: str | None
    contact_id: str | None
    resume_content_type: str | None
    resume_sha256: str | None
    stage_changed_at: datetime
    rejection_reason: str | None
    withdrawal_reason: str | None
    offered_at: datetime | None
    offer_answered_at: datetime | None
    hired_at: datetime | None
    updated_at: datetime


class InterviewCreate(AppSchema):
    kind: InterviewKind = InterviewKind.VIDEO
    scheduled_at: UtcDateTime
    duration_minutes: Annotated[int, Field(ge=5, le=480)] = 45
    interviewer_id: RecordId | None = None
    meeting_url: WebUrl | None = None


class InterviewUpdate(AppSchema):
    scheduled_at: UtcDateTime | None = None
    duration_minutes: Annotated[int, Field(ge=5, le=480)] | None = None
    meeting_url: WebUrl | None = None
    status: InterviewStatus | None = None
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    notes: LongText | None = None

    _required = field_validator("scheduled_at", "duration_minutes", "status")(not_null)


class InterviewRead(ReadSchema):
    id: str
    application_id: str
    kind: InterviewKind
    scheduled_at: datetime
    duration_minutes: int
    interviewer_id: str | None
    meeting_url: str | None
    status: InterviewStatus
    rating: int | None
    notes: str | None
    created_at: datetime
