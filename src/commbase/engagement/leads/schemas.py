"""API shapes for leads: ``LeadCreate`` / ``LeadUpdate`` in, ``LeadRead`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import BIGINT_MAX, Currency, Name, Phone, ShortText, UtcDateTime, not_null
from commbase.engagement.intake.schemas import IntakeForm
from commbase.engagement.leads.enums import FollowUpStatus, LeadPriority, LeadSource, ScoreSource

RecordId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Band = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
Score = Annotated[int, Field(ge=0, le=100)]
Money = Annotated[int, Field(ge=0, le=BIGINT_MAX, description="Minor units")]


def _money_has_currency(deal_value: int | None, currency: str | None) -> None:
    if deal_value is not None and currency is None:
        raise ValueError("deal_value needs a currency")


class LeadCreate(AppSchema):
    contact_id: RecordId | None = None
    conversation_id: RecordId | None = None
    name: Name | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    company: ShortText | None = None
    source: LeadSource = LeadSource.OTHER
    interest: Label | None = Field(default=None, examples=["ai_assistant"])
    budget: Band | None = Field(default=None, examples=["10k-50k", "50k-100k", "100k+"])
    timeline: Band | None = Field(default=None, examples=["immediate", "1-3_months"])
    score: Score | None = Field(
        default=None, description="0-100 from the caller's AI; omitted: the default rule"
    )
    follow_up_at: UtcDateTime | None = None
    notes: Notes | None = None
    deal_value: Money | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def _currency(self) -> Self:
        _money_has_currency(self.deal_value, self.currency)
        return self


class LeadUpdate(AppSchema):
    """Fields sent replace stored ones. A lead scored by the rule is scored again when
    what the rule reads changes; ``score`` sets it (``null``: back to the rule)."""

    contact_id: RecordId | None = None
    conversation_id: RecordId | None = None
    name: Name | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    company: ShortText | None = None
    source: LeadSource | None = None
    interest: Label | None = None
    budget: Band | None = None
    timeline: Band | None = None
    score: Score | None = None
    follow_up_at: UtcDateTime | None = None
    follow_up_status: FollowUpStatus | None = Field(
        default=None, description="pending, contacted or lost (POST .../convert converts)"
    )
    notes: Notes | None = None
    deal_value: Money | None = None
    currency: Currency | None = None

    _required = field_validator("source", "follow_up_status")(not_null)

    @field_validator("follow_up_status")
    @classmethod
    def _not_converted(cls, value: FollowUpStatus) -> FollowUpStatus:
        if value == FollowUpStatus.CONVERTED:
            raise ValueError("use POST /v1/leads/{lead_id}/convert")
        return value


class LeadConvert(AppSchema):
    deal_value: Money | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def _currency(self) -> Self:
        _money_has_currency(self.deal_value, self.currency)
        return self


class LeadRead(ReadSchema):
    id: str
    contact_id: str | None
    conversation_id: str | None
    name: str | None
    phone: str | None
    email: str | None
    company: str | None
    source: LeadSource
    interest: str | None
    budget: str | None
    timeline: str | None
    score: int
    score_source: ScoreSource
    priority: LeadPriority
    follow_up_at: datetime | None
    follow_up_status: FollowUpStatus
    follow_up_due_at: datetime | None
    notes: str | None
    converted: bool
    converted_at: datetime | None
    deal_value: int | None
    currency: str | None
    created_at: datetime
    updated_at: datetime


class LeadIntake(IntakeForm):
    """A website visitor's enquiry ("contact us"): scored by the default rule."""

    name: Name
    email: EmailStr
    phone: Phone | None = None
    company: ShortText | None = None
    interest: Label | None = None
    budget: Band | None = None
    timeline: Band | None = None
    message: Notes | None = Field(default=None, description="Kept as the lead's notes")


class LeadPublic(ReadSchema):
    """What the visitor's access token shows."""

    id: str
    name: str | None
    email: str | None
    interest: str | None
    follow_up_status: FollowUpStatus
    created_at: datetime
