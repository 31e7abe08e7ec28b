"""Threshold alerts API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from commbase.analytics.enums import AlertState, Comparator
from commbase.core.schemas import AppSchema, ReadSchema

MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_COOLDOWN_MINUTES = 30 * 24 * 60

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Threshold = Annotated[float, Field(strict=True, allow_inf_nan=False)]
WindowMinutes = Annotated[int, Field(ge=1, le=MAX_WINDOW_MINUTES)]
MinCount = Annotated[int, Field(ge=0, le=1_000_000_000)]
CooldownMinutes = Annotated[int, Field(ge=0, le=MAX_COOLDOWN_MINUTES)]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Dimension = Annotated[str, StringConstraints(min_length=1, max_length=40)]
DimensionValue = Annotated[str, StringConstraints(max_length=200)]


class AlertCreate(AppSchema):
    name: Name
    metric: MetricName = Field(description="A metric name, e.g. calls.failure_rate or custom.x")
    comparator: Comparator = Field(description="How the value compares with the threshold")
    threshold: Threshold
    window_minutes: WindowMinutes = Field(
        default=60, description="The trailing window the metric is computed over"
    )
    min_count: MinCount = Field(
        default=0,
        description="Facts needed in the window before the alert can fire "
        "(for a ratio, facts of its denominator: calls placed for calls.failure_rate)",
    )
    account_id: AccountId | None = Field(default=None, description="Only this channel account")
    dimension: Dimension | None = Field(
        default=None, description="Only facts whose dimension equals dimension_value"
    )
    dimension_value: DimensionValue | None = None
    cooldown_minutes: CooldownMinutes = Field(
        default=60, description="While triggered, minutes before the event is sent again"
    )
    enabled: bool = True


class AlertUpdate(AppSchema):
    """Fields sent replace stored ones; the alert is validated again as a whole."""

    name: Name | None = None
    metric: MetricName | None = None
    comparator: Comparator | None = None
    threshold: Threshold | None = None
    window_minutes: WindowMinutes | None = None
    min_count: MinCount | None = None
    account_id: AccountId | None = None
    dimension: Dimension | None = None
    dimension_value: DimensionValue | None = None
    cooldown_minutes: CooldownMinutes | None = None
    enabled: bool | None = None

    @field_validator(
        "name",
        "metric",
        "comparator",
        "threshold",
        "window_minutes",
        "min_count",
        "cooldown_minutes",
        "enabled",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the client sent: an explicit null cannot be stored.
        if value is None:
            raise ValueError("may not be null")
        return value


class AlertRead(ReadSchema):
    id: str
    name: str
    metric: str
    comparator: Comparator
    threshold: float
    window_minutes: int
    min_count: int
    account_id: str | None
    dimension: str | None
    dimension_value: str | None
    cooldown_minutes: int
    enabled: bool
    state: AlertState = Field(description="ok, triggered, or error (its last check failed)")
    last_value: float | None
    last_checked_at: datetime | None
    last_triggered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AlertTestResult(ReadSchema):
    """What a check now would find; nothing is recorded."""

    value: float | None = Field(description="null when undefined (a ratio over nothing)")
    count: int = Field(description="Facts in the window (for a ratio, its denominator's)")
    condition_met: bool = Field(description="The value crosses the threshold with min_count met")
    would_fire: bool = Field(description="A check now would send analytics.alert.triggered")
    window_start: datetime
    window_end: datetime
