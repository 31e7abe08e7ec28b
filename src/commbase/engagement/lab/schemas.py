"""Lab experiment shapes (recorded through ``/v1/track/lab``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import BIGINT_MAX, UtcDateTime, not_null
from commbase.engagement.lab.enums import LabStatus
from commbase.tracking.schemas import NAME_PATTERN, Reference

ExperimentType = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=NAME_PATTERN)
]


ProcessingTime = Annotated[int, Field(ge=0, le=86_400_000, description="At most a day")]
Tokens = Annotated[int, Field(ge=0, le=BIGINT_MAX)]


class LabCreate(AppSchema):
    experiment_type: ExperimentType = Field(description="e.g. neural-art, voice-cloning")
    status: LabStatus = LabStatus.STARTED
    user_id: Reference | None = None
    visitor_id: Reference | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    processing_time_ms: ProcessingTime | None = None
    tokens_used: Tokens | None = None
    error: Annotated[str, StringConstraints(max_length=500)] | None = None
    timestamp: UtcDateTime | None = None


class LabUpdate(AppSchema):
    """Fields sent replace stored ones; ``status`` and ``output`` cannot be null."""

    status: LabStatus | None = None
    output: dict[str, Any] | None = None
    processing_time_ms: ProcessingTime | None = None
    tokens_used: Tokens | None = None
    error: Annotated[str, StringConstraints(max_length=500)] | None = None

    _not_null = field_validator("status", "output")(not_null)


class LabRead(ReadSchema):
    id: str
    experiment_type: str
    status: LabStatus
    user_id: str | None
    visitor_id: str | None
    input: dict[str, Any]
    output: dict[str, Any]
    processing_time_ms: int | None
    tokens_used: int | None
    error: str | None
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime
