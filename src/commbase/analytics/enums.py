"""Kinds and states of the analytics domain."""

from __future__ import annotations

from enum import StrEnum


class Interval(StrEnum):
    """Calendar intervals a series is cut into, in the series' time zone."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # Monday to Sunday
    MONTH = "month"
    YEAR = "year"


class SnapshotType(StrEnum):
    """The period a snapshot reports (seed 001's Daily/Weekly/Monthly, plus hourly, yearly)."""

    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Aggregate(StrEnum):
    """How a metric combines its facts."""

    COUNT = "count"
    SUM = "sum"
    AVG = "avg"  # kept as sum and count, so it combines exactly
    RATIO = "ratio"  # of two other metrics
    DISTINCT = "distinct"  # distinct values; computed from raw facts


class CustomAggregate(StrEnum):
    """The aggregates a custom metric may use (a ratio combines two metrics instead)."""

    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    DISTINCT = "distinct"


class FilterOperator(StrEnum):
    """Comparisons of a custom metric's filters."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    EXISTS = "exists"


class Comparator(StrEnum):
    """How an alert's value compares with its threshold."""

    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"


class AlertState(StrEnum):
    OK = "ok"
    TRIGGERED = "triggered"
    ERROR = "error"  # its last check failed
