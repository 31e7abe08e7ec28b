"""Consultation shapes: staff, and the visitor's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Phone, UtcDateTime, not_null
from commbase.engagement.consultations.enums import (
    ConsultationOutcome,
    ConsultationSource,
    ConsultationStatus,
    ConsultationType,
)
from commbase.engagement.intake.schemas import IntakeForm

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=50)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
CompanySize = Annotated[
    str,
    StringConstraints(pattern=r"^(1-10|11-50|51-200|201-1000|1000\+)$"),
    Field(description="1-10, 11-50, 51-200, 201-1000 or 1000+"),
]
MeetingUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=500, pattern=r"^https?://[^\s]+$")
]


class CompanyAndProject(AppSchema):
    company_name: Text200 | None = None
    company_size: CompanySize | None = None
    industry: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    job_title: Text200 | None = None
    project_description: LongText | None = None
    budget_range: Short | None = None
    timeline: Short | None = None
    preferred_times: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


class ConsultationCreate(CompanyAndProject):
    type: ConsultationType
    requester_name: Text200 | None = None
    requester_email: EmailStr | None = None
    requester_phone: Phone | None = None
    user_id: RecordId | None = None
    contact_id: RecordId | None = None


class ConsultationIntake(IntakeForm):
    """A consultation request from a website form (publishable key)."""

    type: ConsultationType
    requester_name: Text200
    requester_email: EmailStr
    requester_phone: Phone | None = None
    company_name: Text200 | None = None
    company_size: CompanySize | None = None
    industry: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    job_title: Text200 | None = None
    project_description: LongText | None = None
    budget_range: Short | None = None
    timeline: Short | None = None
    preferred_times: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


class ConsultationUpdate(CompanyAndProject):
    type: ConsultationType | None = None
    user_id: RecordId | None = None
    contact_id: RecordId | None = None

    _required = field_validator("type")(not_null)


class ConsultationSchedule(AppSchema):
    scheduled_at: UtcDateTime
    duration_minutes: Annotated[int, Field(ge=5, le=480)] = 30
    meeting_url: MeetingUrl | None = None
    host_id: RecordId | None = None


class ConsultationComplete(AppSchema):
    outcome: ConsultationOutcome
    outcome_notes: LongText | None = None


class ConsultationCancel(AppSchema):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


class ConsultationFeedbackCreate(AppSchema):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ConsultationPublic(ReadSchema):
    """What the visitor who asked sees."""

    id: str
    type: ConsultationType
    status: ConsultationStatus
    requester_name: str | None
    requester_email: str | None
    company_name: str | None
    project_description: str | None
    scheduled_at: datetime | None
    duration_minutes: int | None
    meeting_url: str | None
    cancelled_at: datetime | None
    completed_at: datetime | None
    feedback_rating: int | None
    feedback_comment: str | None
    created_at: datetime


class ConsultationRead(ConsultationPublic):
    source: ConsultationSource
    requester_phone: str | None
    job_title: str | None
    user_id: str | None
    contact_id: str | None
    company_size: str | None
    industry: str | None
    budget_range: str | None
    timeline: str | None
    preferred_times: str | None
    host_id: str | None
    scheduled_count: int
    cancel_reason: str | None
    outcome: ConsultationOutcome | None
    outcome_notes: str | None
    feedback_at: datetime | None
    updated_at: datetime
