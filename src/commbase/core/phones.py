"""Phone numbers: parse international input, format it, and classify its line type.

One place for what calls (rating, dialing), contacts (one phone, one contact) and
profiles (caller ids) need to know about a number, built on ``phonenumbers``
(Google's libphonenumber metadata).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, carrier


class LineType(StrEnum):
    """What kind of line a number is; rates are set per line type."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    # Numbering plans (the US, Canada, ...) that do not tell mobile from fixed lines.
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    VOIP = "voip"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    PERSONAL = "personal"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    OTHER = "other"


_LINE_TYPES: dict[int, LineType] = {
    PhoneNumberType.MOBILE: LineType.MOBILE,
    PhoneNumberType.FIXED_LINE: LineType.LANDLINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.VOIP: LineType.VOIP,
    PhoneNumberType.TOLL_FREE: LineType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: LineType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: LineType.SHARED_COST,
    PhoneNumberType.PERSONAL_NUMBER: LineType.PERSONAL,
    PhoneNumberType.PAGER: LineType.PAGER,
    PhoneNumberType.UAN: LineType.UAN,
    PhoneNumberType.VOICEMAIL: LineType.VOICEMAIL,
}


class InvalidPhone(ValueError):
    """Input that is not a valid phone number in international format."""


# The line types whose numbers may name a carrier (``phonenumbers.carrier``'s own test).
_CARRIED = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    e164: str  # +420601123456
    international: str  # +420 601 123 456
    country: str | None  # CZ
    line_type: LineType
    carrier: str | None

    @property
    def national(self) -> str:
        """``601 123 456``: formatted when asked (nothing stored reads it)."""
        return phonenumbers.format_number(
            phonenumbers.parse(self.e164, None), PhoneNumberFormat.NATIONAL
        )


def parse_phone(raw: str) -> PhoneNumber:
    """Parse a number written in international format; InvalidPhone if it is not one.

    Each placement parses its number: the line type is worked out once (a valid
    number is one of a known type, which is what ``is_valid_number`` tests, and
    ``carrier.name_for_number`` would work it out a third time), about half the
    work of asking ``phonenumbers`` each question apart."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("use international format, e.g. +14155551234") from exc
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidPhone("not a valid phone number")
    return PhoneNumber(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        international=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        country=phonenumbers.region_code_for_number(number),
        line_type=_LINE_TYPES.get(kind, LineType.OTHER),
        carrier=(carrier.name_for_valid_number(number, "en") or None) if kind in _CARRIED else None,
    )


def to_e164(raw: str) -> str:
    """The E.164 form of a valid number; InvalidPhone otherwise (``parse_phone(raw).e164``
    without the other formats, region, line type and carrier: a fifth of the work)."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("use international format, e.g. +14155551234") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def international(e164: str) -> str:
    """``+420601123456`` as people write it: ``+420 601 123 456``."""
    try:
        return parse_phone(e164).international
    except InvalidPhone:
        return e164
