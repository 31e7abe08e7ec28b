"""Calls API shapes."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_serializer, field_validator, model_validator

from commbase.calls.enums import (
    ActionKind,
    CallDirection,
    CallKind,
    CallStatus,
    EndReason,
    Quality,
)
from commbase.core.phones import LineType
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import not_null
from commbase.identity.enums import DataRetention

Tag = Annotated[str, StringConstraints(min_length=1, max_length=40)]
PhoneText = Annotated[str, StringConstraints(min_length=3, max_length=32)]


class CallMetadata(AppSchema):
    purpose: Annotated[str, StringConstraints(max_length=100)] | None = None
    ticket_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class CallCreate(AppSchema):
    to: PhoneText = Field(description="Number to call, international format")
    from_: PhoneText | None = Field(default=None, alias="from")
    kind: CallKind = CallKind.VOICE
    privacy_mode: bool | None = Field(
        default=None, description="Erase numbers, transcript and events when the call ends"
    )
    caller_id_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    max_duration_s: Annotated[int, Field(ge=60, le=86_400)] | None = None
    recording_enabled: bool = False
    transcription_enabled: bool = False
    live_agent: bool = Field(
        default=False,
        description=(
            "An agent will talk on the call over the live channel "
            "(WebSocket /v1/calls/{id}/live); with Twilio the call is bridged "
            "through ConversationRelay"
        ),
    )
    live_audio: bool = Field(
        default=False,
        description=(
            "With live_agent: the agent gets the call's audio (Twilio Media Streams, "
            "μ-law 8 kHz, as audio frames) instead of text, and brings its own speech stack"
        ),
    )
    metadata: CallMetadata = Field(default_factory=CallMetadata)

    model_config = AppSchema.model_config | {"populate_by_name": True}


class ActionCreate(AppSchema):
    action: ActionKind
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=10)

    @model_validator(mode="after")
    def _check_parameters(self) -> ActionCreate:
        if self.action == ActionKind.DTMF:
            digits = str(self.parameters.get("digits", ""))
            if not re.fullmatch(r"[0-9*#wW]{1,32}", digits):
                raise ValueError("dtmf needs parameters.digits: 1-32 of 0-9 * # w")
        if self.action == ActionKind.TRANSFER:
            target = str(self.parameters.get("to", ""))
            if not re.fullmatch(r"\+[1-9]\d{6,14}", target):
                raise ValueError("transfer needs parameters.to in E.164, e.g. +14155551234")
        return self


class ActionRead(ReadSchema):
    id: str
    action: ActionKind
    parameters: dict[str, Any]
    created_at: datetime


class ActionList(AppSchema):
    data: list[ActionRead]


class QualityReport(AppSchema):
    mos_score: Annotated[float, Field(ge=1, le=5)] | None = None
    latency_ms: Annotated[int, Field(ge=0, le=60_000)] | None = None
    jitter_ms: Annotated[int, Field(ge=0, le=60_000)] | None = None
    packet_loss: Annotated[float, Field(ge=0, le=1, description="Fraction, 0.02 = 2%")] | None = (
        None
    )
    codec: Annotated[str, StringConstraints(max_length=20)] | None = None
    video_resolution: Annotated[str, StringConstraints(pattern=r"^\d{2,5}x\d{2,5}$")] | None = None
    frame_rate: Annotated[float, Field(ge=0, le=240)] | None = None
    bitrate_kbps: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    reconnections: Annotated[int, Field(ge=0, le=10_000)] | None = None
    screenshare_used: bool | None = None

    # Each field may be left out; none may be sent as null (the columns hold values).
    _no_nulls = field_validator("*")(not_null)


class ReviewCreate(AppSchema):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None
    problem_solved: bool | None = None


# A cost in minor units; twenty of them still add up to a 64-bit total.
Cost = Annotated[int, Field(ge=0, le=10**15)]


class Entity(AppSchema):
    type: Annotated[str, StringConstraints(max_length=40)]
    value: Annotated[str, StringConstraints(max_length=500)]


class AnalysisUpdate(AppSchema):
    intent: Annotated[str, StringConstraints(max_length=60)] | None = None
    entities: list[Entity] | None = Field(default=None, max_length=100)
    sentiment: Literal["positive", "neutral", "negative"] | None = None
    keywords: list[Annotated[str, StringConstraints(max_length=60)]] | None = Field(
        default=None, max_length=100
    )
    outcome: Annotated[str, StringConstraints(max_length=60)] | None = None
    action_taken: Annotated[str, StringConstraints(max_length=60)] | None = None
    lead_score: Annotated[int, Field(ge=0, le=100)] | None = None
    costs: dict[Annotated[str, StringConstraints(max_length=40)], Cost] | None = Field(
        default=None, max_length=20, description="Other costs in minor units, e.g. tts, llm"
    )


class CallRead(ReadSchema):
    id: str
    kind: CallKind
    direction: CallDirection
    status: CallStatus
    end_reason: EndReason | None
    user_id: str | None
    agent_session_id: str | None
    wallet_id: str | None
    contact_id: str | None
    from_number: str | None
    to_number: str | None
    to_number_formatted: str | None
    to_country: str | None
    to_line_type: LineType | None
    to_carrier: str | None
    privacy_mode: bool
    caller_id_name: str | None
    initiated_at: datetime | None
    ringing_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    waiting_time_seconds: int | None
    response_time_seconds: int | None
    reconnections: int
    screenshare_used: bool
    problem_solved: bool | None
    max_duration_seconds: int
    rate_per_minute: Decimal | None
    currency: str | None
    billable_minutes: int | None
    cost_amount: int | None
    cost_breakdown: dict[str, Any]
    ledger_entry_id: str | None
    mos_score: float | None
    latency_ms: int | None
    jitter_ms: int | None
    packet_loss: float | None
    codec: str | None
    video_resolution: str | None
    frame_rate: float | None
    bitrate_kbps: int | None
    quality: Quality | None
    recording_enabled: bool
    recording_url: str | None
    transcription_enabled: bool
    live_agent: bool = Field(description="An agent talks on the call over the live channel")
    live_audio: bool = Field(description="The live channel carries the call's audio, not text")
    provider: str = Field(description="The carrier the call went through")
    provider_call_id: str | None
    livemode: bool = Field(description="False for calls placed with test-mode credentials")
    data_retention: DataRetention | None = Field(
        description="The placing agent session's data_retention consent"
    )
    personal_data_expires_at: datetime | None = Field(
        description="When the call's numbers, notes and transcript are erased, if set"
    )
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    tags: list[str]
    analysis: dict[str, Any]
    review_rating: int | None
    review_comment: str | None
    created_at: datetime
    updated_at: datetime

    @field_serializer("rate_per_minute")
    def _rate(self, value: Decimal | None) -> str | None:
        return None if value is None else format(value.normalize(), "f")


class QualityStats(AppSchema):
    total_calls: int
    avg_mos: float | None
    avg_latency_ms: float | None
    avg_jitter_ms: float | None
    avg_packet_loss: float | None
    by_label: dict[str, int]
