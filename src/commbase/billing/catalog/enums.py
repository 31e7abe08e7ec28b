"""The catalog's kinds: billing intervals, pricing models, coupon durations."""

from __future__ import annotations

from enum import StrEnum


class Interval(StrEnum):
    MONTH = "month"
    YEAR = "year"

    @property
    def months(self) -> int:
        return 12 if self is Interval.YEAR else 1


class PlanPricing(StrEnum):
    FLAT = "flat"  # one amount per period whatever the quantity
    PER_SEAT = "per_seat"  # amount x quantity


class AddOnPricing(StrEnum):
    FLAT = "flat"
    PER_UNIT = "per_unit"  # amount x the add-on's quantity
    USAGE = "usage"  # amount x the usage_meter's count over the period that ended


class UsageMeter(StrEnum):
    """What a usage-priced add-on counts, from the metric registry (the unit it bills)."""

    CALL_MINUTES = "call_minutes"  # calls.billable_minutes
    CALLS = "calls"  # calls.total
    VIDEO_CALLS = "video_calls"  # calls.video


class CouponDuration(StrEnum):
    ONCE = "once"  # the first invoice only
    REPEATING = "repeating"  # invoices of periods starting within duration_months
    FOREVER = "forever"
