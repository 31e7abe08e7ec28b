"""API shapes for conversations, their messages and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Currency, JsonObject, Phone, UtcDateTime, not_null
from commbase.messaging.enums import (
    AuthorRole,
    ContentType,
    ConversationStatus,
    Outcome,
    Priority,
    Sentiment,
)

MAX_LABELS = 50
MAX_BODY = 4096  # WhatsApp's limit for a text message


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Label = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Labels = Annotated[list[Label], Field(max_length=MAX_LABELS), AfterValidator(_unique)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]


MAX_TOKENS_USED = 10_000_000


def check_tokens_used(metadata: dict[str, Any]) -> None:
    """``metadata.tokens_used`` (the AI tokens a message cost, summed into analytics'
    ``tokensUsed``) is a whole number 0..10,000,000 when given."""
    value = metadata.get("tokens_used")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS_USED:
        raise ValueError(f"metadata.tokens_used is a whole number from 0 to {MAX_TOKENS_USED:,}")


class MessageCreate(AppSchema):
    content_type: ContentType = ContentType.TEXT
    body: Body | None = None
    author_role: AuthorRole = Field(
        default=AuthorRole.AGENT, description="agent (a person) or assistant (an AI); not user"
    )
    media_url: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https://")] | None = (
        None
    )
    media_type: Annotated[str, StringConstraints(max_length=100)] | None = None
    media_size: Annotated[int, Field(ge=0, le=2**40)] | None = None
    template_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    template_language: Annotated[str, StringConstraints(max_length=16)] | None = None
    template_parameters: Annotated[
        list[Annotated[str, StringConstraints(max_length=1024)]], Field(max_length=20)
    ] = Field(default_factory=list)
    metadata: JsonObject = Field(default_factory=dict)
    reply_to_message_id: Id | None = None

    @model_validator(mode="after")
    def _content_matches_type(self) -> MessageCreate:
        if self.author_role == AuthorRole.USER:
            raise ValueError("author_role user is the contact's: outbound messages are not theirs")
        if self.content_type == ContentType.TEXT and not self.body:
            raise ValueError("a text message needs a body")
        if self.content_type == ContentType.TEMPLATE and not self.template_name:
            raise ValueError("a template message needs template_name")
        if self.content_type == ContentType.MEDIA and not self.media_url:
            raise ValueError("a media message needs media_url")
        if self.content_type == ContentType.LOCATION and "location" not in self.metadata:
            raise ValueError("a location message needs metadata.location")
        if self.content_type == ContentType.INTERACTIVE and "interactive" not in self.metadata:
            raise ValueError("an interactive message needs metadata.interactive")
        check_tokens_used(self.metadata)
        return self


class MessageRead(ReadSchema):
    id: str
    conversation_id: str
    account_id: str
    contact_id: str | None
    direction: str
    author_role: str
    sender_user_id: str | None
    sender_agent_session_id: str | None
    content_type: str
    body: str | None
    media_url: str | None
    media_type: str | None
    media_size: int | None
    template_name: str | None
    template_language: str | None
    template_parameters: list[str]
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    reply_to_message_id: str | None
    campaign_id: str | None
    provider: str
    provider_message_id: str | None
    status: str
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    replied_at: datetime | None
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime


class ConversationRead(ReadSchema):
    id: str
    account_id: str
    contact_id: str | None
    channel: str
    session_id: str | None
    client_phone: str | None
    client_email: str | None
    client_name: str | None
    status: str
    snoozed_until: datetime | None
    assignee_user_id: str | None
    assignee_agent_session_id: str | None
    labels: list[str]
    priority: str
    first_inbound_at: datetime | None
    last_inbound_at: datetime | None
    first_response_at: datetime | None
    first_response_seconds: int | None
    resolved_at: datetime | None
    resolution_seconds: int | None
    last_activity_at: datetime | None
    message_count: int
    inbound_count: int
    outbound_count: int
    intent: str | None
    sentiment: str | None
    sentiment_score: float | None
    lead_score: int | None
    conversion_probability: float | None
    tags: list[str]
    outcome: str | None
    sale_amount: int | None
    sale_currency: str | None
    booking_details: dict[str, Any]
    escalated_to_human: bool
    satisfaction_rating: int | None
    satisfaction_comment: str | None
    rated_at: datetime | None
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    created_at: datetime
    updated_at: datetime


class StatusChange(AppSchema):
    status: ConversationStatus
    snoozed_until: UtcDateTime | None = Field(
        default=None, description="With status snoozed: when it opens again"
    )

    @model_validator(mode="after")
    def _snooze_needs_time(self) -> StatusChange:
        if self.status == ConversationStatus.SNOOZED and self.snoozed_until is None:
            raise ValueError("snoozed needs snoozed_until")
        if self.status != ConversationStatus.SNOOZED and self.snoozed_until is not None:
            raise ValueError("snoozed_until goes only with status snoozed")
        return self


class Assignment(AppSchema):
    """Assign to a member (``user_id``) or an agent session; both null unassigns."""

    user_id: Id | None = None
    agent_session_id: Id | None = None

    @model_validator(mode="after")
    def _one_assignee(self) -> Assignment:
        if self.user_id and self.agent_session_id:
            raise ValueError("assign to a user or an agent session, not both")
        return self


class LabelChange(AppSchema):
    add: Labels = Field(default_factory=list)
    remove: Labels = Field(default_factory=list)


class ConversationUpdate(AppSchema):
    """Priority, seed 004's analysis and outcome, and the satisfaction rating."""

    priority: Priority | None = None
    intent: Annotated[str, StringConstraints(max_length=40)] | None = None
    sentiment: Sentiment | None = None
    sentiment_score: Annotated[float, Field(ge=-1, le=1)] | None = None
    lead_score: Annotated[int, Field(ge=0, le=100)] | None = None
    conversion_probability: Annotated[float, Field(ge=0, le=1)] | None = None
    tags: Labels | None = None
    outcome: Outcome | None = None
    sale_amount: Annotated[int, Field(ge=0, le=2**53)] | None = None
    sale_currency: Currency | None = None
    booking_details: JsonObject | None = None
    escalated_to_human: bool | None = None
    satisfaction_rating: Annotated[int, Field(ge=1, le=5)] | None = None
    satisfaction_comment: Annotated[str, StringConstraints(max_length=2000)] | None = None
    metadata: JsonObject | None = None

    _required = field_validator("priority", "tags", "escalated_to_human", "booking_details")(
        not_null
    )

    @model_validator(mode="after")
    def _amount_with_currency(self) -> ConversationUpdate:
        if (self.sale_amount is None) != (self.sale_currency is None):
            raise ValueError("sale_amount and sale_currency go together")
        return self


class NoteCreate(AppSchema):
    body: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class NoteRead(ReadSchema):
    id: str
    conversation_id: str
    author_user_id: str | None
    author_agent_session_id: str | None
    body: str
    created_at: datetime


class SearchHit(ReadSchema):
    message_id: str
    conversation_id: str
    created_at: datetime
    snippet: str


class OptOutCreate(AppSchema):
    contact_id: Id


class OptOutRead(ReadSchema):
    id: str
    contact_id: str
    source: str
    account_id: str | None
    message_id: str | None
    created_at: datetime


class ConversationCreate(AppSchema):
    """Open a conversation with a contact on an account (e.g. to send a template first);
    the contact's unresolved conversation there is returned if it has one."""

    account_id: Id
    contact_id: Id


class InboundCreate(AppSchema):
    """A contact's message arriving on a web chat, email or other non-WhatsApp account
    (your widget or mail gateway posts it). Matched to a contact by phone, else email."""

    from_phone: Phone | None = None
    from_email: EmailStr | None = None
    from_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    session_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    content_type: ContentType = ContentType.TEXT
    body: Body | None = None
    media_url: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https://")] | None = (
        None
    )
    media_type: Annotated[str, StringConstraints(max_length=100)] | None = None
    metadata: JsonObject = Field(default_factory=dict)
    provider_message_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = (
        Field(default=None, description="Your id for it: a message with a known id is dropped")
    )
    sent_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _sender_and_content(self) -> InboundCreate:
        check_tokens_used(self.metadata)
        if not (self.from_phone or self.from_email or self.session_id):
            raise ValueError("name the sender: from_phone, from_email or session_id")
        if self.content_type == ContentType.TEXT and not self.body:
            raise ValueError("a text message needs a body")
        return self
