"""What a subscription costs: per period, per month (MRR), and for the rest of a period
after a change (proration). Pure functions over catalog rows; no database.

Proration (the one rule): a change of plan, quantity or add-ons takes effect at once.
Its price is the difference between the new and the old *net* period amount
(after a coupon that discounts the current period, before tax), times the share
of the current period still to run, in seconds, rounded half away from zero to
the minor unit::

    proration = round((new_net - old_net) * (period_end - now) / (period_end - period_start))

A positive proration is invoiced at once; a negative one is credited to the
subscription and taken off its next invoices. Trials and paused subscriptions pay
nothing, so they prorate nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commbase.billing.catalog.enums import AddOnPricing, CouponDuration, Interval, PlanPricing
from commbase.billing.catalog.models import AddOn, Coupon, Plan
from commbase.billing.invoices.enums import LineKind
from commbase.billing.subscriptions.enums import BILLED


@dataclass(frozen=True)
class Charge:
    kind: str  # LineKind
    description: str
    unit_amount: int
    quantity: int
    plan_id: str | None = None
    addon_id: str | None = None

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass(frozen=True)
class PeriodCharges:
    """One period's recurring charges and the coupon's discount on them."""

    charges: tuple[Charge, ...]
    discount: int
    recurring_discount: int  # the part of ``discount`` that recurs (not a "once" coupon)

    @property
    def gross(self) -> int:
        return sum(c.amount for c in self.charges)

    @property
    def net(self) -> int:
        return self.gross - self.discount


def round_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in integers."""
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    n, d = abs(numerator), abs(denominator)
    return sign * ((2 * n + d) // (2 * d))


def coupon_discount(coupon: Coupon | None, gross: int) -> int:
    """What ``coupon`` takes off ``gross``: a percentage (rounded half up), or an amount
    (never more than ``gross``)."""
    if coupon is None or gross <= 0:
        return 0
    if coupon.percent_off is not None:
        return round_div(gross * coupon.percent_off, 100)
    return min(coupon.amount_off or 0, gross)


def period_charges(
    *,
    plan: Plan,
    quantity: int,
    addons: Sequence[tuple[AddOn, int]],
    coupon: Coupon | None,
    discount_active: bool,
) -> PeriodCharges:
    seats = quantity if plan.pricing == PlanPricing.PER_SEAT else 1
    charges = [Charge(LineKind.PLAN, plan.name, plan.amount, seats, plan_id=plan.id)]
    for addon, addon_quantity in sorted(addons, key=lambda a: a[0].code):
        if addon.pricing == AddOnPricing.USAGE:
            continue  # billed in arrears for the period that ended (subscriptions.usage)
        units = addon_quantity if addon.pricing == AddOnPricing.PER_UNIT else 1
        charges.append(Charge(LineKind.ADDON, addon.name, addon.amount, units, addon_id=addon.id))
    gross = sum(c.amount for c in charges)
    discount = coupon_discount(coupon, gross) if discount_active else 0
    recurring = 0 if coupon is None or coupon.duration == CouponDuration.ONCE else discount
    return PeriodCharges(tuple(charges), discount, recurring)


def monthly(amount: int, interval: str) -> int:
    """A period amount normalised to a month: a year's amount / 12, rounded half up."""
    return round_div(amount, Interval(interval).months)


def mrr(*, status: str, interval: str, charges: PeriodCharges) -> int:
    """Monthly recurring revenue: billed subscriptions only (trials, paused and ended
    ones count zero), after recurring discounts, before tax."""
    if status not in BILLED:
        return 0
    return monthly(charges.gross - charges.recurring_discount, interval)


def prorate(*, delta: int, now: datetime, period_start: datetime, period_end: datetime) -> int:
    """The share of ``delta`` for what is left of the period (see the module's rule)."""
    total = int((period_end - period_start).total_seconds())
    left = int((period_end - now).total_seconds())
    if total <= 0 or left <= 0:
        return 0
    return round_div(delta * min(left, total), total)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole months, the day clamped to the month's length."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def next_period_end(*, anchor: datetime, current_end: datetime, interval: str) -> datetime:
    """The end of the period after the one ending at ``current_end``."""
    elapsed = (current_end.year - anchor.year) * 12 + current_end.month - anchor.month
    return add_months(anchor, elapsed + Interval(interval).months)
