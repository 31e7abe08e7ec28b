"""Money as integer minor units plus an ISO 4217 currency; rates as Decimal."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from math import ceil

# Currencies whose minor unit is not the cent (ISO 4217 exponent).
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_minor(amount: Decimal, currency: str, *, rounding: str = ROUND_HALF_UP) -> int:
    """Major units (``Decimal("4.17")``) to minor units (``417``)."""
    scaled = amount * (Decimal(10) ** exponent(currency))
    return int(scaled.to_integral_value(rounding=rounding))


def to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor) / (Decimal(10) ** exponent(currency))


def billable_minutes(duration_s: int) -> int:
    """Every started minute is billed: ``ceil(duration / 60)``."""
    return ceil(max(0, duration_s) / 60)


def cost_of(minutes: int, rate_per_minute: Decimal, currency: str) -> int:
    """What ``minutes`` cost at ``rate_per_minute`` (major units), in minor units,
    rounded half up to the minor unit."""
    return to_minor(Decimal(minutes) * rate_per_minute, currency)


def minutes_affordable(available: int, rate_per_minute: Decimal, currency: str) -> int:
    """The most whole minutes whose cost fits in ``available`` minor units."""
    if rate_per_minute <= 0:
        return 10**9
    per_minute_minor = rate_per_minute * (Decimal(10) ** exponent(currency))
    guess = int((Decimal(available) / per_minute_minor).to_integral_value(rounding=ROUND_CEILING))
    while guess > 0 and cost_of(guess, rate_per_minute, currency) > available:
        guess -= 1
    return guess
