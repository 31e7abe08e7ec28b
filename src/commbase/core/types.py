"""Field types every domain's schemas share, validated once here.

Bodies and query strings use the same types, so a naive datetime, an unknown
time zone or a malformed phone number is refused the same way everywhere
(422 with the field's path), before anything reaches a service.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from commbase.core.money import CURRENCY_CODES, is_currency
from commbase.core.phones import InvalidPhone, to_e164


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _e164(value: str) -> str:
    try:
        return to_e164(value)
    except InvalidPhone as exc:
        raise ValueError(f"phone: {exc}") from exc


def _currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("date is out of range") from exc


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or CIDR range") from exc


def not_null(value: Any) -> Any:
    """A ``field_validator`` for optional update fields that cannot be stored as null.

    Validators run only for fields the client sent, so leaving a field out is
    fine while an explicit ``null`` is a 422.
    """
    if value is None:
        raise ValueError("may not be null")
    return value


TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_timezone)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(_e164)]
Cidr = Annotated[str, StringConstraints(max_length=64), AfterValidator(_cidr)]
# An ISO 4217 code with a minor unit (``USD``, ``JPY``, ``TND``); ``ZZZ`` is a 422.
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_currency),
    Field(json_schema_extra={"enum": list(CURRENCY_CODES)}),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
JsonObject = Annotated[dict[str, Any], Field(max_length=100)]
# A moment with a UTC offset, stored as UTC. A naive datetime (no offset) is a 422:
# guessing its zone would silently move it by hours.
UtcDateTime = Annotated[AwareDatetime, AfterValidator(_utc)]
# Integers every database column of commbase can hold (BIGINT).
BIGINT_MAX = 2**63 - 1
# A record's public id in a URL path (``/v1/calls/{call_id}``).
PathId = Annotated[str, Path(max_length=40)]
