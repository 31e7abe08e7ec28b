"""Phone numbers for calls: E.164, national format, country, line type, carrier."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

from commbase.core.errors import ValidationFailed

_LINE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}


@dataclass(frozen=True, slots=True)
class Destination:
    e164: str
    formatted: str
    country: str | None
    line_type: str
    carrier: str | None


def parse_destination(raw: str, *, field: str = "to") -> Destination:
    """Parse an international number; ValidationFailed if it is not a valid one."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise _invalid(field, "use international format, e.g. +14155551234") from exc
    if not phonenumbers.is_valid_number(number):
        raise _invalid(field, "not a valid phone number")
    return Destination(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        formatted=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        country=phonenumbers.region_code_for_number(number),
        line_type=_LINE_TYPES.get(phonenumbers.number_type(number), "other"),
        carrier=carrier.name_for_number(number, "en") or None,
    )


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}",
        errors=[{"loc": ["body", field], "field": field, "message": message}],
    )
