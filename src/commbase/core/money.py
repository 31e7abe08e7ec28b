"""Money as integer minor units plus an ISO 4217 currency; rates as Decimal.

Currencies and their minor units come from the ISO 4217 table itself (the
``iso4217`` package ships the maintenance agency's list): 1 TND is 1000
millimes, 1 JPY is 1 yen, 1 USD is 100 cents. Codes without a minor unit
(gold ``XAU``, the test code ``XTS``...) are not money commbase can hold.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from math import ceil

from iso4217 import Currency as _Iso4217

# Every active ISO 4217 code that has a minor unit -> its exponent.
_EXPONENTS: dict[str, int] = {c.code: c.exponent for c in _Iso4217 if isinstance(c.exponent, int)}
CURRENCY_CODES: tuple[str, ...] = tuple(sorted(_EXPONENTS))


class UnknownCurrency(ValueError):
    """A code that is not an ISO 4217 currency with a minor unit."""


def is_currency(code: str) -> bool:
    return code in _EXPONENTS


def exponent(currency: str) -> int:
    """Digits after the decimal point: 2 for USD, 0 for JPY, 3 for TND."""
    try:
        return _EXPONENTS[currency.upper()]
    except KeyError:
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency") from None


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
