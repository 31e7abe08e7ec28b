"""Support ticket shapes: staff, and the visitor's (no internal notes, no staff data)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import not_null
from commbase.engagement.intake.schemas import IntakeForm
from commbase.engagement.support.enums import (
    AuthorType,
    TicketCategory,
    TicketPriority,
    TicketSource,
    TicketStatus,
)

Subject = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class TicketCreate(AppSchema):
    subject: Subject
    description: Body
    category: TicketCategory = TicketCategory.GENERAL
    priority: TicketPriority = TicketPriority.MEDIUM
    requester_name: PersonName | None = None
    requester_email: EmailStr | None = None
    user_id: RecordId | None = Field(default=None, description="The user the ticket is about")
    contact_id: RecordId | None = Field(default=None, description="The contact who asked")
    assignee_id: RecordId | None = None


class TicketIntake(IntakeForm):
    """A ticket from a website form (publishable key)."""

    subject: Subject
    description: Body
    category: TicketCategory = TicketCategory.GENERAL
    priority: TicketPriority = TicketPriority.MEDIUM
    requester_name: PersonName
    requester_email: EmailStr


class TicketUpdate(AppSchema):
    subject: Subject | None = None
    category: TicketCategory | None = None
    priority: TicketPriority | None = None
    status: TicketStatus | None = Field(
        default=None,
        description="open, pending or on_hold; resolve, close and reopen have their own routes",
    )
    assignee_id: RecordId | None = Field(default=None, description="null unassigns")
    user_id: RecordId | None = None
    contact_id: RecordId | None = None

    _required = field_validator("subject", "category", "priority", "status")(not_null)


class TicketResolve(AppSchema):
    resolution: Body


class MessageCreate(AppSchema):
    body: Body
    internal: bool = Field(
        default=False, description="An internal note: never shown to the customer"
    )


class VisitorMessageCreate(AppSchema):
    body: Body


class SatisfactionCreate(AppSchema):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class TicketRead(ReadSchema):
    id: str
    number: int
    subject: str
    description: str
    category: TicketCategory
    priority: TicketPriority
    status: TicketStatus
    source: TicketSource
    requester_name: str | None
    requester_email: str | None
    user_id: str | None
    contact_id: str | None
    assignee_id: str | None
    resolution: str | None
    satisfaction_rating: int | None
    satisfaction_comment: str | None
    rated_at: datetime | None
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_responded_at: datetime | None
    first_response_s: int | None
    resolved_at: datetime | None
    resolution_s: int | None
    closed_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_breached_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TicketPublic(ReadSchema):
    """What the visitor who opened the ticket sees."""

    id: str
    number: int
    subject: str
    description: str
    category: TicketCategory
    priority: TicketPriority
    status: TicketStatus
    requester_name: str | None
    requester_email: str | None
    resolution: str | None
    satisfaction_rating: int | None
    satisfaction_comment: str | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MessageRead(ReadSchema):
    id: str
    ticket_id: str
    author_type: AuthorType
    author_user_id: str | None
    body: str
    internal: bool
    created_at: datetime


class MessagePublic(ReadSchema):
    id: str
    author_type: AuthorType
    body: str
    created_at: datetime
