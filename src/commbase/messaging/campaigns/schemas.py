"""API shapes for campaigns: ``CampaignCreate`` in; ``CampaignRead``, ``RecipientRead``
and ``CampaignStats`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Name, UtcDateTime
from commbase.messaging.campaigns.enums import AudienceKind

MAX_EXPLICIT_CONTACTS = 1000
MAX_THROTTLE = 1000
MAX_TEMPLATE_PARAMETERS = 20

Label = Annotated[str, StringConstraints(min_length=1, max_length=50)]
ContactId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
TemplateName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z0-9_]+$")
]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")]
Parameter = Annotated[str, StringConstraints(max_length=1024)]


class ContactFilter(AppSchema):
    """The contacts list's own filters: a label, a name or number search, an owner."""

    label: Label | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    owner_user_id: ContactId | None = None


class Audience(AppSchema):
    """Who gets the campaign: contacts holding any of ``labels``, the listed
    ``contact_ids``, or the contacts matching ``filter``. Blocked and opted-out
    contacts, and contacts without a phone number, are skipped and counted."""

    kind: AudienceKind
    labels: Annotated[list[Label], Field(max_length=20)] = Field(default_factory=list)
    contact_ids: Annotated[list[ContactId], Field(max_length=MAX_EXPLICIT_CONTACTS)] = Field(
        default_factory=list
    )
    filter: ContactFilter | None = None

    @model_validator(mode="after")
    def _matches_kind(self) -> Audience:
        if self.kind == AudienceKind.LABELS and not self.labels:
            raise ValueError("an audience of kind 'labels' needs at least one label")
        if self.kind == AudienceKind.CONTACTS and not self.contact_ids:
            raise ValueError("an audience of kind 'contacts' needs contact_ids")
        if self.kind == AudienceKind.FILTER and self.filter is None:
            raise ValueError("an audience of kind 'filter' needs a filter")
        return self


class CampaignCreate(AppSchema):
    name: Name
    account_id: ContactId = Field(description="The channel account that sends")
    template_name: TemplateName
    template_language: Language = "en"
    template_parameters: Annotated[list[Parameter], Field(max_length=MAX_TEMPLATE_PARAMETERS)] = (
        Field(default_factory=list)
    )
    audience: Audience
    throttle_per_second: int = Field(
        default=10, ge=1, le=MAX_THROTTLE, description="Messages per second at most"
    )
    start: bool = Field(
        default=False, description="Start sending at once (else a draft, or scheduled)"
    )
    scheduled_at: UtcDateTime | None = Field(
        default=None, description="Start at this time (a scheduled campaign)"
    )

    @model_validator(mode="after")
    def _one_start(self) -> CampaignCreate:
        if self.start and self.scheduled_at is not None:
            raise ValueError("give either start or scheduled_at, not both")
        return self


class CampaignSchedule(AppSchema):
    """``scheduled_at`` in the future schedules the campaign; omitted, it starts now."""

    scheduled_at: UtcDateTime | None = None


class CampaignRead(ReadSchema):
    id: str
    account_id: str
    name: str
    template_name: str
    template_language: str
    template_parameters: list[str]
    audience: Audience
    throttle_per_second: int
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    failure_reason: str | None
    recipients_total: int
    skipped_opted_out: int
    skipped_other: int
    created_at: datetime
    updated_at: datetime


class RecipientRead(ReadSchema):
    id: str
    campaign_id: str
    contact_id: str
    status: str = Field(
        description="queued, sent, delivered, read, replied or failed (from its message), "
        "or skipped"
    )
    skip_reason: str | None
    message_id: str | None
    error: str | None
    sent_at: datetime | None
    created_at: datetime


class CampaignFunnel(AppSchema):
    recipients: int
    queued: int
    sent: int
    delivered: int
    read: int
    replied: int
    failed: int
    skipped: int
    cancelled: int = Field(
        description="Still queued, without a message, when the campaign was cancelled"
    )
    skipped_opted_out: int


class CampaignStats(AppSchema):
    """Live counts from the recipients and their messages, seed 001's rates and score.

    ``sent`` counts recipients whose message reached the provider (delivered, read
    and replied included), ``delivered`` those delivered or further, ``read`` those
    read or replied after reading... see the README for each formula."""

    campaign_id: str
    status: str
    funnel: CampaignFunnel
    delivery_rate: float
    read_rate: float
    reply_rate: float
    failure_rate: float
    score: float
