"""What a billing document shows, independent of its format (HTML or PDF)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from commbase.core.money import exponent, to_major

ADDRESS_KEYS = ("line1", "line2", "city", "state", "postal_code", "country")


@dataclass(frozen=True)
class Party:
    """The seller or the buyer: a name, then lines of address and contact."""

    name: str
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int
    unit_amount: int
    amount: int


@dataclass(frozen=True)
class Document:
    title: str  # "Invoice", "Receipt"
    number: str
    status: str
    seller: Party
    buyer: Party
    currency: str
    facts: list[tuple[str, str]]  # ("Issued", "2026-11-28"), ...
    lines: list[Line]
    totals: list[tuple[str, int]]  # ("Subtotal", 10000), ..., the last one in bold
    memo: str | None = None

    def money(self, minor: int) -> str:
        return money(minor, self.currency)


def money(minor: int, currency: str) -> str:
    """``12000`` USD -> ``120.00 USD``; the currency's own decimals (JPY has none)."""
    return f"{to_major(minor, currency):,.{exponent(currency)}f} {currency}"


def address_lines(address: dict[str, Any] | None) -> list[str]:
    """A stored address as printable lines (city and postal code on one line)."""
    address = address or {}
    lines = [str(address[k]) for k in ("line1", "line2") if address.get(k)]
    town = " ".join(str(address[k]) for k in ("postal_code", "city") if address.get(k))
    if town:
        lines.append(town)
    lines += [str(address[k]) for k in ("state", "country") if address.get(k)]
    return lines


def day(moment: datetime | None, timezone: str) -> str:
    """A date as the seller's calendar shows it (``2026-11-28``); ``-`` when unknown."""
    if moment is None:
        return "-"
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):  # an unknown zone name: UTC
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).date().isoformat()
