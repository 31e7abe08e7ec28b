"""Request and response bodies of the analytics API (dashboards, snapshots, custom metrics)."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as Date
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from commbase.analytics.enums import Aggregate, CustomAggregate, FilterOperator, Interval
from commbase.analytics.enums import SnapshotType as SnapshotKind
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import not_null

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,79}$"
FIELD_PATTERN = (
    r"^(data(\.[A-Za-z0-9_-]{1,64}){1,5}|user_id|session_id|call_id|visitor_id|account_id|type)$"
)
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_.:-]+$"
# Limits of a custom metric's definition: each one is a bound on the SQL it becomes.
MAX_FILTERS = 10
MAX_IN_VALUES = 100
MAX_FILTER_TEXT = 200  # as long as a dimension value rollups keep
MAX_FILTER_NUMBER = 2**53  # JSON numbers are exact integers up to here
MAX_DIMENSIONS = 5
# Snapshots describe periods from this date on (cumulative totals start here too).
FIRST_SNAPSHOT_DATE = Date(2000, 1, 1)
ALL_TIME = datetime(2000, 1, 1, tzinfo=UTC)

# A metric's value: a count stays an integer, an average or a rate is a float.
Value = int | float
# Integers stay integers, so `in` compares 250 with the text "250" an event holds.
Number = (
    Annotated[int, Field(ge=-MAX_FILTER_NUMBER, le=MAX_FILTER_NUMBER)]
    | Annotated[float, Field(ge=-MAX_FILTER_NUMBER, le=MAX_FILTER_NUMBER, allow_inf_nan=False)]
)
FilterText = Annotated[str, StringConstraints(max_length=MAX_FILTER_TEXT)]
Dimension = Annotated[str, Field(pattern=FIELD_PATTERN, max_length=200)]
EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=EVENT_TYPE_PATTERN)
]
Unit = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Description = Annotated[str, StringConstraints(max_length=500)]


# ------------------------------------------------------------------ custom metrics


class MetricFilter(AppSchema):
    field: str = Field(pattern=FIELD_PATTERN, max_length=200)
    op: FilterOperator = FilterOperator.EQ
    value: (
        FilterText
        | Number
        | bool
        | Annotated[list[FilterText | Number], Field(min_length=1, max_length=MAX_IN_VALUES)]
        | None
    ) = Field(
        default=None,
        description=f"Text (up to {MAX_FILTER_TEXT} characters), a number (at most "
        f"{MAX_FILTER_NUMBER} either way), a boolean, or for `in` a list of up to "
        f"{MAX_IN_VALUES} texts or numbers",
    )


class CustomMetricCreate(AppSchema):
    name: str = Field(pattern=NAME_PATTERN, description="Queried as custom.<name>")
    description: Description | None = None
    event_type: EventType
    aggregate: CustomAggregate = CustomAggregate.COUNT
    field: str | None = Field(default=None, pattern=FIELD_PATTERN, max_length=200)
    filters: list[MetricFilter] = Field(default_factory=list, max_length=MAX_FILTERS)
    dimensions: list[Dimension] = Field(default_factory=list, max_length=MAX_DIMENSIONS)
    unit: Unit = "count"


class CustomMetricUpdate(AppSchema):
    """Fields sent replace stored ones; the definition is checked again as a whole."""

    description: Description | None = None
    event_type: EventType | None = None
    aggregate: CustomAggregate | None = None
    field: str | None = Field(default=None, pattern=FIELD_PATTERN, max_length=200)
    filters: list[MetricFilter] | None = Field(default=None, max_length=MAX_FILTERS)
    dimensions: list[Dimension] | None = Field(default=None, max_length=MAX_DIMENSIONS)
    unit: Unit | None = None

    _not_null = field_validator("event_type", "aggregate", "filters", "dimensions", "unit")(
        not_null
    )


class MetricRead(ReadSchema):
    name: str
    aggregate: Aggregate
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
    rolled_up: bool | None = Field(
        default=None, description="Custom metrics: its rollups are current"
    )
    rollup_error: str | None = Field(
        default=None, description="Custom metrics: why its last fold failed (null: it did not)"
    )
    rollup_failed_at: datetime | None = None


class MetricList(ReadSchema):
    data: list[MetricRead]


# ------------------------------------------------------------------ series


class Point(ReadSchema):
    start: datetime = Field(description="Start of the calendar interval (UTC)")
    value: Value = Field(description="The metric over the part of the interval in range")


class SeriesEntry(ReadSchema):
    metric: str
    unit: str
    aggregate: Aggregate
    group: str | None = Field(description="The dimension's value ('' for none); null otherwise")
    other: bool = Field(
        default=False, description="Every value beyond the group_limit largest, added up"
    )
    points: list[Point]
    total: Value
    previous_total: Value | None = None
    growth: float | None = Field(default=None, description="Percent change from previous_total")


class Span(ReadSchema):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime


class SeriesRead(ReadSchema):
    model_config = ConfigDict(populate_by_name=True)

    interval: Interval
    timezone: str
    from_: datetime = Field(alias="from")
    to: datetime
    account_id: str | None
    group_by: str | None
    group_limit: int | None = Field(description="With group_by: how many groups are kept")
    previous: Span | None = Field(description="The period compared with (same length, before)")
    series: list[SeriesEntry]


class RevenueRead(SeriesRead):
    currency: str
    mrr: int | None = Field(
        description="Monthly recurring revenue at the range's end, in the organization's "
        "currency (subscriptions in other currencies: /v1/analytics/series?metrics=mrr.change"
        "&group_by=currency)"
    )
    arr: int | None = Field(default=None, description="Annual recurring revenue: 12 x MRR")


# ------------------------------------------------------------------ dashboards

# A snapshot's sections: section -> key -> value (``calls`` -> ``total`` -> 12).
Sections = dict[str, dict[str, Value]]


class SnapshotPeriod(ReadSchema):
    start: datetime
    end: datetime = Field(description="Exclusive")


class SectionsRead(ReadSchema):
    """Every snapshot section over a period (seed 001's metrics document): besides
    ``period`` and ``generatedAt``, one object per section (``calls``, ``revenue``,
    ``users``, ``contacts``, ``tracking``, ...) of its values."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, dict[str, Value]]

    period: SnapshotPeriod
    generatedAt: datetime


class DashboardRead(ReadSchema):
    days: int
    current: SectionsRead
    previous: Sections = Field(description="The same sections over the days before")
    growth: Sections = Field(description="Percent change per value (see calculations)")


class PatternsRead(ReadSchema):
    model_config = ConfigDict(populate_by_name=True)

    metric: str
    timezone: str
    from_: datetime = Field(alias="from")
    to: datetime
    hourlyDistribution: list[Value] = Field(description="24 local hours")
    dailyDistribution: list[Value] = Field(description="Monday first")
    monthlyTrend: list[Point]


class CountryCalls(ReadSchema):
    country: str | None
    calls: Value
    revenue: Value = Field(description="What the calls cost, in minor units")


class CityViews(ReadSchema):
    city: str | None
    pageviews: Value


class CountryVisits(ReadSchema):
    country: str | None
    visits: Value


class GeographyRead(ReadSchema):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    currency: str
    topCountries: list[CountryCalls]
    topCities: list[CityViews]
    topVisitCountries: list[CountryVisits]


class Comparison(ReadSchema):
    total: Value
    previous_total: Value | None
    growth: float | None


class QualityRead(ReadSchema):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    metrics: dict[str, Comparison]
    distribution: dict[str, Value] = Field(description="Calls by quality label")


class CompanyRead(ReadSchema):
    """The organization's all-time call aggregates."""

    totalCalls: Value
    totalDuration: Value
    averageCallDuration: Value
    averageRating: Value
    totalRevenue: Value
    successRate: Value
    responseTime: Value


class UserAggregatesRead(ReadSchema):
    """One member's all-time call aggregates."""

    user_id: str
    totalCalls: Value
    totalVideoCalls: Value
    totalCallDuration: Value
    averageCallDuration: Value
    averageRating: Value
    reviewCount: Value
    successRate: Value
    responseTime: Value


# ------------------------------------------------------------------ health


class JobHealth(ReadSchema):
    last_success_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None


class RollupHealth(ReadSchema):
    watermark: datetime
    behind_s: int


class LatestSnapshot(ReadSchema):
    id: str
    type: SnapshotKind
    date: Date
    generated_at: datetime
    age_s: int


class FailedMetric(ReadSchema):
    name: str
    error: str
    failed_at: datetime | None


class HealthRead(ReadSchema):
    healthy: bool = Field(description="The latest snapshot is less than 24 hours old")
    latest_snapshot: LatestSnapshot | None
    jobs: dict[str, JobHealth]
    rollups: dict[str, RollupHealth]
    failed_metrics: list[FailedMetric] = Field(
        description="Your custom metrics whose last fold failed (their series read raw facts)"
    )


# ------------------------------------------------------------------ snapshots


class SnapshotCreate(AppSchema):
    type: SnapshotKind = SnapshotKind.DAILY
    date: Date | None = Field(
        default=None,
        description="A day inside the period (local), from 2000-01-01 to today; "
        "default: the last complete period",
    )
    hour: int | None = Field(default=None, ge=0, le=23, description="Hourly snapshots: the hour")
    account_id: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("date")
    @classmethod
    def _in_range(cls, value: Date | None) -> Date | None:
        if value is not None and value < FIRST_SNAPSHOT_DATE:
            raise ValueError(f"snapshots start on {FIRST_SNAPSHOT_DATE.isoformat()}")
        return value


class SnapshotRead(ReadSchema):
    id: str
    account_id: str | None
    date: Date
    snapshot_type: SnapshotKind
    period_start: datetime
    period_end: datetime
    timezone: str
    metrics: dict[str, Any]
    created_at: datetime
    updated_at: datetime
