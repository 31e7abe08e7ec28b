"""Calendar periods in a time zone: where hours, days, weeks, months and years begin.

Every boundary is computed on the local calendar and converted to UTC, so a day
across a daylight-saving change is 23 or 25 hours long and a day in
Asia/Kolkata starts at 18:30 UTC. Weeks run Monday to Sunday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commbase.analytics.enums import Interval
from commbase.core.errors import invalid

INTERVALS: tuple[Interval, ...] = tuple(Interval)
# Series may start and end only within these bounds: every period before or after
# a range (its previous period, its calendar edges) stays computable.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"Unknown time zone {name!r}", "tz", location="query") from None


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz`` (midnight, or later when midnight is skipped)."""
    naive = datetime(day.year, day.month, day.day)  # noqa: DTZ001  (a local wall time)
    for minutes in range(0, 180, 15):
        candidate = (naive + timedelta(minutes=minutes)).replace(tzinfo=tz)
        # A time in a DST gap does not survive the round trip through UTC.
        roundtrip = candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if roundtrip == candidate.replace(tzinfo=None):
            return candidate.astimezone(UTC)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def floor(moment: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """The start (UTC) of the ``interval`` containing ``moment`` in ``tz``."""
    local = moment.astimezone(tz)
    if interval == Interval.HOUR:
        start = local.replace(minute=0, second=0, microsecond=0)
        result = start.astimezone(UTC)
        # Zones with 30/45-minute offsets: the local hour starts off the UTC hour.
        return result if result <= moment else result - timedelta(hours=1)
    day = local.date()
    if interval == Interval.WEEK:
        day -= timedelta(days=day.weekday())
    elif interval == Interval.MONTH:
        day = day.replace(day=1)
    elif interval == Interval.YEAR:
        day = day.replace(month=1, day=1)
    start = _local_midnight(day, tz)
    if start > moment:  # moment sits in a skipped stretch right after midnight
        start = _local_midnight(day - timedelta(days=1), tz)
    return start


def following(start: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """The start (UTC) of the interval after the one starting at ``start``."""
    if interval == Interval.HOUR:
        return start + timedelta(hours=1)
    day = start.astimezone(tz).date()
    if interval == Interval.DAY:
        nxt = day + timedelta(days=1)
    elif interval == Interval.WEEK:
        nxt = day + timedelta(days=7 - day.weekday())
    elif interval == Interval.MONTH:
        nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    else:
        nxt = date(day.year + 1, 1, 1)
    return _local_midnight(nxt, tz)


def boundaries(
    start: datetime, end: datetime, interval: Interval, tz: ZoneInfo, *, limit: int = 20_000
) -> tuple[list[datetime], list[datetime]]:
    """Edges of the intervals covering [start, end) and each interval's label.

    ``edges`` are ``start``, every interval start strictly inside, then ``end``;
    ``labels[i]`` is the (UTC) start of the calendar interval the i-th piece
    belongs to, so a range that begins mid-day labels its first point with that
    day's midnight and counts only from ``start``.
    """
    if end <= start:
        raise invalid("`to` must be after `from`", "to", location="query")
    edges = [start]
    labels = [floor(start, interval, tz)]
    cursor = following(labels[0], interval, tz)
    while cursor < end:
        edges.append(cursor)
        labels.append(cursor)
        cursor = following(cursor, interval, tz)
        if len(edges) > limit:
            raise invalid(
                f"Too many {interval} intervals in the range (at most {limit})",
                "interval",
                location="query",
                limit=limit,
            )
    edges.append(end)
    return edges, labels
