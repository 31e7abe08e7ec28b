"""Request and response bodies of the analytics API (dashboards, snapshots, custom metrics)."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from commbase.core.schemas import AppSchema, ReadSchema

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,79}$"
FIELD_PATTERN = (
    r"^(data(\.[A-Za-z0-9_-]{1,64}){1,5}|user_id|session_id|call_id|visitor_id|account_id|type)$"
)


Dimension = Annotated[str, Field(pattern=FIELD_PATTERN, max_length=200)]


class MetricFilter(AppSchema):
    field: str = Field(pattern=FIELD_PATTERN, max_length=200)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"] = "eq"
    value: str | float | bool | list[str | float] | None = None


class CustomMetricCreate(AppSchema):
    name: str = Field(pattern=NAME_PATTERN, description="Queried as custom.<name>")
    description: str | None = Field(default=None, max_length=500)
    event_type: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    aggregate: Literal["count", "sum", "avg", "distinct"] = "count"
    field: str | None = Field(default=None, pattern=FIELD_PATTERN, max_length=200)
    filters: list[MetricFilter] = Field(default_factory=list, max_length=10)
    dimensions: list[Dimension] = Field(default_factory=list, max_length=5)
    unit: str = Field(default="count", max_length=20)


class CustomMetricUpdate(AppSchema):
    description: str | None = Field(default=None, max_length=500)
    event_type: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$"
    )
    aggregate: Literal["count", "sum", "avg", "distinct"] | None = None
    field: str | None = Field(default=None, pattern=FIELD_PATTERN, max_length=200)
    filters: list[MetricFilter] | None = Field(default=None, max_length=10)
    dimensions: list[Dimension] | None = Field(default=None, max_length=5)
    unit: str | None = Field(default=None, max_length=20)


class MetricRead(ReadSchema):
    name: str
    aggregate: str
    description: str
    unit: str
    source: str | None
    dimensions: list[str]
    supports_account: bool
    numerator: str | None
    denominator: str | None
    custom: bool
    id: str | None = None
    event_type: str | None = None
    field: str | None = None
    filters: list[dict[str, Any]] | None = None
    rolled_up: bool | None = None


class SnapshotCreate(AppSchema):
    type: Literal["hourly", "daily", "weekly", "monthly", "yearly"] = "daily"
    date: Date | None = Field(
        default=None, description="A day inside the period (local); default: the last complete one"
    )
    hour: int | None = Field(default=None, ge=0, le=23, description="Hourly snapshots: the hour")
    account_id: str | None = Field(default=None, min_length=1, max_length=64)


class SnapshotRead(ReadSchema):
    id: str
    account_id: str | None
    date: Date
    snapshot_type: str
    period_start: datetime
    period_end: datetime
    timezone: str
    metrics: dict[str, Any]
    created_at: datetime
    updated_at: datetime
