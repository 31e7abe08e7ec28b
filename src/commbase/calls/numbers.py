"""Numbers called: the destination's E.164 form, national format, country, line type
and carrier, or a 422 naming the field."""

from __future__ import annotations

from commbase.core.errors import invalid
from commbase.core.phones import InvalidPhone, PhoneNumber, parse_phone


def parse_destination(raw: str, *, field: str = "to") -> PhoneNumber:
    """Parse an international number; ValidationFailed naming ``field`` if it is not one."""
    try:
        return parse_phone(raw)
    except InvalidPhone as exc:
        raise invalid(f"{field}: {exc}", field, message=str(exc)) from exc
