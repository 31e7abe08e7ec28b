"""Event types the analytics domain records in the outbox: threshold alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from commbase.core.events import EventPayload, define


class AlertPayload(EventPayload):
    """An alert's definition and what its check found over the window."""

    id: str
    name: str
    metric: str
    comparator: str
    threshold: float
    value: float | None = Field(
        description="The metric over the window; null when undefined (a ratio over nothing)"
    )
    count: int = Field(description="Facts in the window (for a ratio, its denominator's)")
    window_minutes: int
    window_start: datetime
    window_end: datetime
    account_id: str | None
    dimension: str | None
    dimension_value: str | None


ALERT_TRIGGERED = define(
    "analytics.alert.triggered",
    AlertPayload,
    "A metric crossed an alert's threshold; repeated after the cooldown while it stays there.",
)
ALERT_RESOLVED = define(
    "analytics.alert.resolved",
    AlertPayload,
    "A triggered alert's metric is back within its threshold.",
)
