"""Phone numbers API shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, field_serializer, field_validator, model_validator

from commbase.calls.enums import ProviderName
from commbase.calls.phone_numbers.enums import AfterHoursAction, AnswerMode, Capability
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Phone, not_null

WssUrl = Annotated[str, StringConstraints(pattern=r"^wss://[^\s/?#]+[^\s]*$", max_length=500)]
AgentId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Greeting = Annotated[str, StringConstraints(min_length=1, max_length=500)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Voice = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,60}$")]
InboundRate = Annotated[Decimal, Field(ge=0, le=1000, max_digits=12, decimal_places=6)]


class _Answering(AppSchema):
    """What answers the number: checked together, as one decision."""

    answer_mode: AnswerMode | None = None
    agent_id: AgentId | None = None
    connect_url: WssUrl | None = None
    member_user_id: UserId | None = None
    forward_to: Phone | None = None
    after_hours_action: AfterHoursAction | None = None
    after_hours_greeting: Greeting | None = None
    after_hours_forward_to: Phone | None = None
    privacy_mode: bool | None = None
    inbound_rate_per_minute: InboundRate | None = None
    voice: Voice | None = None
    live_audio: bool | None = Field(
        default=None,
        description="An agent answering it (answer_mode agent or connect) gets the call's "
        "audio over the live channel (Twilio Media Streams, μ-law 8 kHz) instead of text",
    )
    friendly_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    capabilities: list[Capability] | None = Field(default=None, max_length=3)


class PhoneNumberCreate(_Answering):
    number: Phone = Field(description="The number, international format (stored as E.164)")
    provider: ProviderName = ProviderName.SIMULATOR
    answer_mode: AnswerMode = AnswerMode.AGENT
    capabilities: list[Capability] = Field(
        default_factory=lambda: [Capability.VOICE], min_length=1, max_length=3
    )

    @model_validator(mode="after")
    def _complete(self) -> PhoneNumberCreate:
        check_answering(
            mode=self.answer_mode,
            connect_url=self.connect_url,
            member_user_id=self.member_user_id,
            forward_to=self.forward_to,
            after_hours_action=self.after_hours_action or AfterHoursAction.VOICEMAIL,
            after_hours_forward_to=self.after_hours_forward_to,
        )
        return self


class PhoneNumberUpdate(_Answering):
    rotate_connect_secret: bool | None = Field(
        default=None,
        description="A connect number's new handshake secret, shown once in the answer "
        "(the old one stops working at once)",
    )
    _required = field_validator(
        "answer_mode", "after_hours_action", "privacy_mode", "capabilities", "live_audio"
    )(not_null)


def check_answering(
    *,
    mode: str,
    connect_url: str | None,
    member_user_id: str | None,
    forward_to: str | None,
    after_hours_action: str,
    after_hours_forward_to: str | None,
) -> None:
    """ValueError naming what a mode needs and was not given."""
    if mode == AnswerMode.CONNECT and not connect_url:
        raise ValueError("answer_mode connect needs connect_url (wss://...)")
    if mode == AnswerMode.MEMBER and not member_user_id:
        raise ValueError("answer_mode member needs member_user_id")
    if mode == AnswerMode.FORWARD and not forward_to:
        raise ValueError("answer_mode forward needs forward_to")
    if after_hours_action == AfterHoursAction.FORWARD and not after_hours_forward_to:
        raise ValueError("after_hours_action forward needs after_hours_forward_to")


class PhoneNumberRead(ReadSchema):
    id: str
    number: str
    provider: str
    friendly_name: str | None
    capabilities: list[str]
    answer_mode: str
    agent_id: str | None
    connect_url: str | None
    member_user_id: str | None
    forward_to: str | None
    after_hours_action: str
    after_hours_greeting: str | None
    after_hours_forward_to: str | None
    privacy_mode: bool
    inbound_rate_per_minute: Decimal | None
    voice: str | None
    live_audio: bool
    provider_sid: str | None
    connect_secret: str | None = Field(
        default=None,
        description="The secret commbase signs its connect-out handshake with (HMAC-SHA256; "
        "see Live calls). Shown only when it is made: a number registered or changed "
        "to answer_mode connect, or rotate_connect_secret",
    )
    created_at: datetime
    updated_at: datetime

    @field_serializer("inbound_rate_per_minute")
    def _as_string(self, value: Decimal | None) -> str | None:
        return None if value is None else format(value.normalize(), "f")


class SimulatedInbound(AppSchema):
    from_: Phone = Field(alias="from", description="The caller's number")
    duration_s: Annotated[int, Field(ge=1, le=86_400)] | None = Field(
        default=None,
        description="How long the simulated caller stays on (default 60 s + the last two "
        "digits of their number); the call ends sooner if its allowed duration does",
    )

    model_config = AppSchema.model_config | {"populate_by_name": True}
