"""Rollups of whole days in every UTC offset ("windows"), and reads that use them.

A 90-day daily series takes 2,160 hour rows of each pack, and in Asia/Kolkata
(days from 18:30 UTC) four quarter-hour rows more a day. A window row holds the
sum of a pack's totals over 24 hours from a quarter hour where some UTC offset's
midnight falls (``STARTS``), per channel account: dimension ``@day``, value '',
and ``hour`` the window's first *quarter hour* since the epoch (windows of two
offsets can start in the same hour). Every 24-hour day of every time zone is then
one row, in every offset the time zone database knows.

The fold (``folding.fold_range``) recomputes every window overlapping the hours
it refolds from those hours' quarter-hour rows, in the same transaction, after
them: a window is exactly as current as its quarter hours, so a read may take a
window wherever it would take each of its quarter hours from rollups (``cover``),
and reads the rest as before (hour rows, quarter-hour rows, raw facts). Reads by
a dimension, a filter or a grouping read hour rows.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.aggregates import hour_ranges
from commbase.analytics.models import MetricRollup
from commbase.analytics.registry import QUARTER

WINDOW = "@day"
DAY = 96  # quarter hours
# Every UTC offset of the time zone database (2026), in minutes: where each one's
# midnight falls in a UTC day is where a window may start. Fixed here (not read from
# the machine's tzdata), so the fold and every reader agree on which windows exist;
# changing it changes the rollup format (``registry.ROLLUP_FORMAT``).
OFFSETS = (
    *(-720, -660, -600, -570, -540, -480, -420, -360, -300, -240, -210, -180, -150, -120),
    *(-60, 0, 60, 120, 180, 210, 240, 270, 300, 330, 345, 360, 390, 420, 480, 525, 540),
    *(570, 600, 630, 660, 720, 765, 780, 825, 840),
)
STARTS = tuple(sorted({(-offset // 15) % DAY for offset in OFFSETS}))
CHUNK = 28 * DAY  # window starts rebuilt at a time
ROLLUPS = cast(Table, MetricRollup.__table__)


def _window_starts(low: int, high: int) -> list[int]:
    """The window starts (quarter hours) in [low, high)."""
    found = []
    base = low - low % DAY
    while base < high:
        found += [base + start for start in STARTS if low <= base + start < high]
        base += DAY
    return found


async def rebuild_windows(
    session: AsyncSession, org_id: str, packs: list[str], first_hour: int, last_hour: int
) -> int:
    """Recompute the windows of ``packs`` overlapping hours [first_hour, last_hour] from
    the quarter-hour rows now stored, ``CHUNK`` of starts at a time (a rebuild of years
    holds a few weeks of rows in memory); returns the rows written."""
    low, high = first_hour * 4 - DAY + 1, (last_hour + 1) * 4  # the windows' starts
    written = 0
    for chunk in range(low, high, CHUNK):
        written += await _rebuild_starts(session, org_id, packs, chunk, min(chunk + CHUNK, high))
    return written


async def _rebuild_starts(
    session: AsyncSession, org_id: str, packs: list[str], low: int, high: int
) -> int:
    """Recompute the windows of ``packs`` starting in quarters [low, high)."""
    await session.execute(
        delete(MetricRollup).where(
            MetricRollup.org_id == org_id,
            MetricRollup.metric.in_(packs),
            MetricRollup.dimension == WINDOW,
            MetricRollup.hour >= low,
            MetricRollup.hour < high,
        )
    )
    rows = await session.execute(
        select(
            ROLLUPS.c.metric, ROLLUPS.c.account, ROLLUPS.c.hour, ROLLUPS.c.value, ROLLUPS.c.totals
        ).where(
            ROLLUPS.c.org_id == org_id,
            ROLLUPS.c.metric.in_(packs),
            ROLLUPS.c.dimension == QUARTER,
            ROLLUPS.c.hour >= low // 4,
            ROLLUPS.c.hour <= (high - 1 + DAY - 1) // 4,  # the last window's last quarter
        )
    )
    # Per (pack, account): each quarter's totals, and each whole hour's (its four summed).
    quarters: dict[tuple[str, str], dict[int, list[float]]] = {}
    for pack, account, hour, value, totals in rows:
        quarters.setdefault((pack, account), {})[hour * 4 + int(value)] = totals
    written: list[dict[str, object]] = []
    starts = _window_starts(low, high)
    for (pack, account), by_quarter in quarters.items():
        hours: dict[int, list[float]] = {}
        for quarter, totals in by_quarter.items():
            _add(hours.setdefault(quarter // 4, [0.0] * len(totals)), totals)
        for start in starts:
            totals = _window(start, by_quarter, hours)
            if totals is not None:
                written.append(
                    {
                        "org_id": org_id,
                        "metric": pack,
                        "dimension": WINDOW,
                        "hour": start,
                        "value": "",
                        "account": account,
                        "totals": totals,
                    }
                )
    if written:
        await session.execute(insert(ROLLUPS), written)
    return len(written)


async def complete_windows(session: AsyncSession, packs: list[str], org_id: str | None) -> int:
    """Windows for every hour of ``packs`` (of one organization, or all) holding
    quarter-hour rows: rollups of the format before windows, completed in place; raw
    facts are not read, so hours whose facts retention deleted keep their totals."""
    if org_id is None:
        orgs = list(
            await session.scalars(
                select(ROLLUPS.c.org_id)
                .where(ROLLUPS.c.metric.in_(packs), ROLLUPS.c.dimension == QUARTER)
                .distinct()
            )
        )
    else:
        orgs = [org_id]
    written = 0
    for org in sorted(orgs):
        hours = await session.scalars(
            select(ROLLUPS.c.hour)
            .where(
                ROLLUPS.c.org_id == org,
                ROLLUPS.c.metric.in_(packs),
                ROLLUPS.c.dimension == QUARTER,
            )
            .distinct()
        )
        for first, last in hour_ranges(hours, gap=24):
            written += await rebuild_windows(session, org, packs, first, last)
    return written


def _add(into: list[float], totals: Iterable[float]) -> None:
    for position, item in enumerate(totals):
        into[position] += item


def _window(
    start: int, by_quarter: dict[int, list[float]], hours: dict[int, list[float]]
) -> list[float] | None:
    """The totals of the 24 hours from quarter ``start``: whole hours by their sums, the
    cut hours at either end by quarter. None when no fact falls in them."""
    found: list[float] | None = None
    quarter, end = start, start + DAY
    while quarter < end:
        if quarter % 4 == 0 and quarter + 4 <= end:
            part, quarter = hours.get(quarter // 4), quarter + 4
        else:
            part, quarter = by_quarter.get(quarter), quarter + 1
        if part is not None:
            if found is None:
                found = [0.0] * len(part)
            _add(found, part)
    return found


@dataclass
class Cover:
    """What a read of totals takes from rollups: hour rows, quarter-hour rows (by quarter
    number) and windows (by first quarter)."""

    hours: list[int]
    quarters: list[int]
    windows: list[int]


def cover(
    quarter_edges: Sequence[int],
    first: int,
    stop: int,
    skipped: set[int],
    quarter_hours: set[int],
    raw_quarters: set[int],
) -> Cover:
    """Windows for the 24-hour runs inside each piece (pieces start at ``quarter_edges``)
    holding nothing read raw, and the rest as the read would take it without them: the
    hours of [first, stop) not ``skipped`` as hour rows (by quarter where a window takes
    a part of one), the ``quarter_hours``' quarters not in ``raw_quarters`` as quarter
    rows."""
    begin, end = quarter_edges[0], quarter_edges[-1]
    unread = set(raw_quarters)
    outside = [*range(begin // 4, first), *range(stop, -(-end // 4))]
    for hour in [*(skipped - quarter_hours), *(h for h in outside if h not in quarter_hours)]:
        unread.update(range(4 * hour, 4 * hour + 4))
    holes = sorted(q for q in unread if begin <= q < end)
    windows: list[int] = []
    for low, high in pairwise(quarter_edges):
        quarter = low
        while quarter + DAY <= high:
            at = bisect_left(holes, quarter)
            limit = min(high, holes[at]) if at < len(holes) else high
            start = _next_start(quarter)
            if start + DAY <= limit:
                windows.append(start)
                quarter = start + DAY
            elif limit < high:
                quarter = limit + 1
            else:
                break
    hours: list[int] = []
    quarters: list[int] = []
    gaps = zip([begin, *(w + DAY for w in windows)], [*windows, end], strict=True)
    for low, high in gaps:
        quarter = low
        while quarter < high:
            hour = quarter // 4
            rolled = first <= hour < stop and hour not in skipped
            if rolled and quarter % 4 == 0 and quarter + 4 <= high:
                hours.append(hour)
                quarter += 4
                continue
            if rolled or (hour in quarter_hours and quarter not in raw_quarters):
                quarters.append(quarter)
            quarter += 1
    return Cover(hours, quarters, windows)


def _next_start(quarter: int) -> int:
    """The first window start at or after ``quarter``."""
    offset = quarter % DAY
    at = bisect_left(STARTS, offset)
    if at < len(STARTS):
        return quarter - offset + STARTS[at]
    return quarter - offset + DAY + STARTS[0]
