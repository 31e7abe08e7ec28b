"""Webhooks API shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema

_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
# The Standard Webhooks example schedule, after the first attempt: 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h, 10 h.
MAX_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def _event_pattern(value: str) -> str:
    if not _PATTERN.match(value):
        raise ValueError("use an event name, a prefix wildcard like 'call.*', or '*'")
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
    url: Url | None = None
    event_types: list[EventPattern] | None = Field(default=None, max_length=100)
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    retry_schedule: Schedule | None = None
    status: Literal["active", "paused"] | None = Field(
        default=None, description="Re-activating a disabled endpoint resets its failure count"
    )


class SecretRotate(AppSchema):
    grace_period_s: Annotated[int, Field(ge=0, le=7 * 86_400)] = 86_400


class EndpointRead(ReadSchema):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    status: str
    disabled_reason: str | None
    retry_schedule: list[int]
    owner_user_id: str | None
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
    succeeded: bool
    attempted_at: datetime


class DeliveryRead(ReadSchema):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any] | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None


class DeliveryWithAttempts(DeliveryRead):
    attempt_log: list[AttemptRead] = Field(default_factory=list)


class ReplayRequest(AppSchema):
    since: datetime
    until: datetime | None = None


class EventTypeRead(AppSchema):
    name: str
    description: str
    payload_schema: dict[str, Any]
