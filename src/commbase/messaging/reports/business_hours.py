"""Time within business hours, for reports "within business hours only" (Chatwoot's
option): a first response or resolution counts only the seconds the channel
account was open, in the organization's time zone. An account without business
hours is always open."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from commbase.messaging.accounts.schemas import WEEKDAYS

Hours = dict[str, list[list[str]]]


def _at(day: Any, clock: str, tz: ZoneInfo) -> datetime:
    if clock == "24:00":
        return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return datetime.combine(day, time.fromisoformat(clock), tz).astimezone(UTC)


def business_seconds(start: datetime, end: datetime, *, hours: Hours, tz: ZoneInfo) -> int:
    """Seconds of [start, end) within ``hours`` (weekday -> [[HH:MM, HH:MM], ...] in
    ``tz``); all of them when ``hours`` is empty."""
    if end <= start:
        return 0
    if not hours:
        return int((end - start).total_seconds())
    total = 0.0
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        for opening, closing in hours.get(WEEKDAYS[day.weekday()], []):
            low = max(_at(day, opening, tz), start)
            high = min(_at(day, closing, tz), end)
            if high > low:
                total += (high - low).total_seconds()
        day += timedelta(days=1)
    return int(total)


def averages(
    rows: Iterable[tuple[Any, str, datetime | None, datetime | None]],
    *,
    hours_of: dict[str, Hours],
    tz: ZoneInfo,
) -> dict[Any, float]:
    """group key -> mean business seconds of its (key, account, from, to) spans; spans
    missing an end are left out."""
    spans: dict[Any, list[int]] = defaultdict(list)
    for key, account_id, begin, finish in rows:
        if begin is None or finish is None:
            continue
        hours = hours_of.get(account_id, {})
        spans[key].append(business_seconds(begin, finish, hours=hours, tz=tz))
    return {key: round(sum(values) / len(values), 2) for key, values in spans.items()}
