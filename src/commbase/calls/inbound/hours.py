"""Working hours (seed 004's ``ai_settings.working_hours``): is the business open?

``{"monday": "9-17", "saturday": "10:30-14", "sunday": "closed"}``, read in the
organization's time zone. A day left out of a non-empty table is closed; an
empty table means always open. A range whose end is not after its start runs past
midnight (``"22-6"``: from 22:00 to 06:00 the next morning).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLOSED = "closed"


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + (int(minutes) if minutes else 0)


def _span(entry: str) -> tuple[int, int] | None:
    """The (start, end) minutes of a day's entry, or None if closed or unreadable."""
    entry = entry.strip().lower()
    if entry == CLOSED or "-" not in entry:
        return None
    start, _, end = entry.partition("-")
    try:
        return _minutes(start), _minutes(end)
    except ValueError:
        return None


def _open_on(table: dict[str, str], day: str, minute: int) -> bool:
    """Open at ``minute`` of ``day`` by that day's range (the part before midnight)."""
    span = _span(str(table.get(day, CLOSED)))
    if span is None:
        return False
    start, end = span
    return start <= minute < end if end > start else minute >= start


def _carried_over(table: dict[str, str], previous_day: str, minute: int) -> bool:
    """Open at ``minute`` after midnight by the previous day's overnight range."""
    span = _span(str(table.get(previous_day, CLOSED)))
    if span is None:
        return False
    start, end = span
    return end <= start and minute < end


def local_time(moment: datetime, timezone: str) -> datetime:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone)


def is_open(table: dict[str, str], *, moment: datetime, timezone: str) -> bool:
    """Whether ``moment`` falls within the working hours, in ``timezone``."""
    if not table:
        return True
    local = local_time(moment, timezone)
    minute = local.hour * 60 + local.minute
    day = WEEKDAYS[local.weekday()]
    previous = WEEKDAYS[(local - timedelta(days=1)).weekday()]
    return _open_on(table, day, minute) or _carried_over(table, previous, minute)


__all__ = ["WEEKDAYS", "is_open", "local_time"]
