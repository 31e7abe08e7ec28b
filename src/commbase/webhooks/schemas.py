"""Webhooks API shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from commbase.core import events as event_catalogue
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import UtcDateTime, not_null
from commbase.webhooks.enums import AttemptOutcome, DeliveryStatus, EndpointStatus

_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
# The Standard Webhooks example schedule, after the first attempt: 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h, 10 h.
MAX_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def _event_pattern(value: str) -> str:
    if not _PATTERN.match(value):
        raise ValueError("use an event name, a prefix wildcard like 'call.*', or '*'")
    names = [t.name for t in event_catalogue.event_types()]
    if value.endswith(".*") and not any(n.startswith(value[:-1]) for n in names):
        raise ValueError(
            f"{value!r} matches no event type (GET /v1/webhooks/event-types lists them)"
        )
    if value != "*" and not value.endswith(".*") and value not in names:
        raise ValueError(
            f"{value!r} is not an event type (GET /v1/webhooks/event-types lists them)"
        )
    return value


def _schedule(value: list[int]) -> list[int]:
    if len(value) > len(MAX_SCHEDULE):
        raise ValueError(f"at most {len(MAX_SCHEDULE)} retries")
    if any(delay < 1 or delay > 36_000 for delay in value):
        raise ValueError("each delay is 1 to 36000 seconds")
    return value


EventPattern = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_event_pattern)
]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2048)]
Schedule = Annotated[list[int], AfterValidator(_schedule)]


class EndpointCreate(AppSchema):
    url: Url
    event_types: list[EventPattern] = Field(default_factory=lambda: ["*"], max_length=100)
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    retry_schedule: Schedule = Field(
        default_factory=lambda: [60, 300, 900],
        description="Seconds to wait before each retry (default: 3 retries after 1, 5, 15 min)",
    )


class EndpointUpdate(AppSchema):
    """Fields left out stay as they are; only ``description`` may be set to null."""

    url: Url | None = None
    event_types: list[EventPattern] | None = Field(default=None, max_length=100)
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    retry_schedule: Schedule | None = None
    status: Literal[EndpointStatus.ACTIVE, EndpointStatus.PAUSED] | None = Field(
        default=None, description="Re-activating a disabled endpoint resets its failure count"
    )

    _not_null = field_validator("url", "event_types", "retry_schedule", "status")(not_null)


class SecretRotate(AppSchema):
    grace_period_s: Annotated[int, Field(ge=0, le=7 * 86_400)] = 86_400


class EndpointRead(ReadSchema):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    status: EndpointStatus
    disabled_reason: str | None
    retry_schedule: list[int]
    owner_user_id: str | None
    owner_agent_session_id: str | None = Field(
        description="The agent session that created it: it hears only that session's events"
    )
    total_attempts: int
    successful_deliveries: int
    failed_deliveries: int
    consecutive_failures: int
    last_delivery_at: datetime | None
    last_failure_at: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointRead):
    secret: str = Field(description="Signing secret; shown only in this response")


class AttemptRead(ReadSchema):
    attempt: int
    url: str
    response_status: int | None
    response_body: str | None
    latency_ms: int | None
    error: str | None
    outcome: AttemptOutcome
    succeeded: bool
    attempted_at: datetime


class DeliveryRead(ReadSchema):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any] | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None


class DeliveryWithAttempts(DeliveryRead):
    attempt_log: list[AttemptRead] = Field(default_factory=list)


class ReplayRequest(AppSchema):
    since: UtcDateTime
    until: UtcDateTime | None = None

    @field_validator("until")
    @classmethod
    def _after_since(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if value is not None and since is not None and value <= since:
            raise ValueError("until must be later than since")
        return value


class ReplayQueued(AppSchema):
    queued: int = Field(description="Events queued to be sent again")


class EventTypeRead(AppSchema):
    name: str
    description: str
    payload_schema: dict[str, Any]


class EventTypeList(AppSchema):
    data: list[EventTypeRead]
