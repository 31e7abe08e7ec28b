"""24-hour windows: a day of any UTC offset is one rollup row, and a read that takes
windows still counts every quarter hour once, from the rows that are current."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update

from commbase.analytics import planner, rollup, touches, windows
from commbase.analytics.custom import as_metric
from commbase.analytics.enums import Interval
from commbase.analytics.models import CustomMetric, MetricRollup, Watermark
from commbase.analytics.periods import boundaries
from commbase.analytics.pieces import Pieces
from commbase.analytics.registry import (
    UPGRADABLE_FORMAT,
    declared_signature,
    lookup,
    registered_sources,
    signature,
)
from commbase.analytics.scope import Scope
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.analytics.windows import DAY, STARTS, WINDOW, cover
from commbase.core.db import Database
from commbase.core.time import FrozenClock, use_clock
from commbase.tracking.models import TrackedEvent
from tests.analytics.test_engine_property import BASE, Fact, _check, _insert, _new_org


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 3 * DAY), min_size=1, max_size=6),
    begin=st.integers(0, 4 * DAY),
    raw_hours=st.sets(st.integers(0, 600)),
    quarter_hours=st.sets(st.integers(0, 600)),
    raw_quarters=st.sets(st.integers(0, 2400)),
)
def test_a_cover_counts_every_quarter_hour_read_from_rollups_once(
    lengths: list[int],
    begin: int,
    raw_hours: set[int],
    quarter_hours: set[int],
    raw_quarters: set[int],
) -> None:
    edges = [begin]
    for length in lengths:
        edges.append(edges[-1] + length)
    first, stop = -(-edges[0] // 4), edges[-1] // 4
    quarter_hours -= raw_hours
    raw_quarters = {q for q in raw_quarters if q // 4 in quarter_hours}
    skipped = raw_hours | quarter_hours
    found = cover(edges, first, stop, skipped, quarter_hours, raw_quarters)

    # What the read takes from rollups without windows, quarter by quarter.
    rolled = {4 * h + q for h in range(first, stop) if h not in skipped for q in range(4)}
    rolled |= {4 * h + q for h in quarter_hours for q in range(4)} - raw_quarters
    rolled = {q for q in rolled if edges[0] <= q < edges[-1]}
    taken: list[int] = []
    for start in found.windows:
        assert start % DAY in STARTS
        # Inside one piece.
        assert any(low <= start and start + DAY <= high for low, high in pairwise(edges))
        taken += range(start, start + DAY)
    for hour in found.hours:
        assert first <= hour < stop
        assert hour not in skipped
        taken += range(4 * hour, 4 * hour + 4)
    taken += found.quarters
    assert sorted(taken) == sorted(rolled)  # each once, nothing read raw, nothing missing


def test_every_day_of_a_clean_range_is_one_window() -> None:
    for zone in ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"):
        start = datetime(2026, 1, 5, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        edges, _ = boundaries(start, start + timedelta(days=10), Interval.DAY, ZoneInfo(zone))
        pieces = Pieces(edges, "postgresql")
        first, stop = pieces.hour_edges[0], pieces.hour_edges[-1]
        split = {int(edge.timestamp()) // 3600 for edge in edges if edge.minute}
        found = cover(pieces.quarter_edges, first, stop, split, split, set())
        assert (len(found.windows), found.hours, found.quarters) == (10, [], []), zone


async def _windows_read(
    database: Database, org_id: str, tz: ZoneInfo, start: datetime, days: int = 3
) -> int:
    """How many windows a daily series of ``days`` from ``start`` reads."""
    edges, _ = boundaries(start, start + timedelta(days=days), Interval.DAY, tz)
    async with database.sessionmaker() as session:
        planned = await planner.plan(session, [lookup("events.total")], edges, Scope(org_id))
    [entry] = planned.sources
    pieces = Pieces(edges, "postgresql")
    found = cover(
        pieces.quarter_edges,
        pieces.hour_edges[0],
        pieces.hour_edges[-1],
        entry.raw_hours | entry.quarter_hours,
        entry.quarter_hours,
        entry.raw_quarters,
    )
    return len(found.windows)


async def test_days_read_as_windows_stay_exact_through_late_and_deleted_facts(
    app: FastAPI,
) -> None:
    database: Database = app.state.db
    received = BASE + timedelta(days=62)
    tz = ZoneInfo("Asia/Kolkata")
    start = datetime(2026, 3, 21, tzinfo=tz).astimezone(UTC)
    facts = [Fact(minute, minute % 40, 1, "order.paid") for minute in range(0, 60 * 24 * 5, 11)]
    with use_clock(FrozenClock(received)) as clock:
        org_id = await _new_org(database, "Asia/Kolkata")
        await _insert(database, org_id, facts, received)
        await rollup.fold(database, now=received + timedelta(minutes=1), lag=timedelta(0))
        async with database.sessionmaker() as session:
            stored = await session.scalar(
                select(func.count()).where(
                    MetricRollup.org_id == org_id, MetricRollup.dimension == WINDOW
                )
            )
        assert (stored or 0) > 5 * len(STARTS) // 2  # every offset's days
        assert await _windows_read(database, org_id, tz, start) == 3
        await _check(database, org_id, facts, tz, start, start + timedelta(days=3))

        # A late fact on the second day: that day is read by hour and quarter again.
        late = [Fact(int((start - BASE).total_seconds() // 60) + 60 * 30, 3, 2, "order.paid")]
        await _insert(database, org_id, late, received + timedelta(minutes=5))
        assert await _windows_read(database, org_id, tz, start) == 2
        await _check(database, org_id, facts + late, tz, start, start + timedelta(days=3))

        # A deleted fact of the first day: its hour is touched, read raw until refolded.
        clock.advance(6 * 60)  # type: ignore[attr-defined]
        gone = facts[len(facts) // 5]
        async with database.sessionmaker() as session:
            source = lookup("events.total").source
            assert source is not None
            await touches.touch(session, org_id=org_id, source=source, times=[gone.at])
            await session.execute(
                delete(TrackedEvent).where(
                    TrackedEvent.org_id == org_id, TrackedEvent.occurred_at == gone.at
                )
            )
            await session.commit()
        kept = [fact for fact in facts if fact.at != gone.at]
        assert await _windows_read(database, org_id, tz, start) <= 2
        await _check(database, org_id, kept + late, tz, start, start + timedelta(days=3))

        # Refolded: the windows are current again, every day one row.
        await rollup.fold(database, now=received + timedelta(minutes=10), lag=timedelta(0))
        assert await _windows_read(database, org_id, tz, start) == 3
        await _check(database, org_id, kept + late, tz, start, start + timedelta(days=3))


async def test_rollups_folded_before_windows_are_completed_keeping_their_history(
    app: FastAPI,
) -> None:
    """Rollups of the format before windows get windows from their own rows: raw facts
    that retention deleted since are not needed, and the series do not change."""
    database: Database = app.state.db
    received = BASE + timedelta(days=64)
    tz = ZoneInfo("Asia/Kolkata")
    start = datetime(2026, 3, 21, tzinfo=tz).astimezone(UTC)
    facts = [Fact(minute, minute % 30, 1, "order.paid") for minute in range(0, 60 * 24 * 4, 13)]
    metrics = ("events.total", "custom.paid", "custom.paid_avg")
    spec = SeriesSpec(metrics, Interval.DAY, start, start + timedelta(days=3), tz, compare=False)

    async def series(org_id: str) -> list[Any]:
        async with database.sessionmaker() as session:
            result = await Analytics(session, org_id).series(spec)
        return [(e["metric"], e["points"], e["total"]) for e in result["series"]]

    with use_clock(FrozenClock(received)):
        org_id = await _new_org(database, "Asia/Kolkata")
        await _insert(database, org_id, facts, received)
        await rollup.fold(database, now=received + timedelta(minutes=1), lag=timedelta(0))
        before = await series(org_id)
        end = start + timedelta(days=3)
        assert before[0][2] == len([fact for fact in facts if start <= fact.at < end])

        # As the format before windows left them, and retention took the raw facts.
        async with database.sessionmaker() as session:
            await session.execute(
                delete(MetricRollup).where(
                    MetricRollup.org_id == org_id, MetricRollup.dimension == WINDOW
                )
            )
            key = "tracked_events"
            old = signature(registered_sources()[key], rollup_format=UPGRADABLE_FORMAT)
            await session.execute(
                update(Watermark).where(Watermark.source == key).values(signature=old)
            )
            for definition in await session.scalars(
                select(CustomMetric).where(CustomMetric.org_id == org_id)
            ):
                metric = as_metric(definition)
                definition.rollup_signature = signature([metric], rollup_format=UPGRADABLE_FORMAT)
            await session.execute(delete(TrackedEvent).where(TrackedEvent.org_id == org_id))
            await session.commit()

        await rollup.fold(database, now=received + timedelta(minutes=2), lag=timedelta(0))
        async with database.sessionmaker() as session:
            mark = await session.get(Watermark, "tracked_events")
            assert mark is not None
            assert mark.signature == declared_signature("tracked_events")
            packs = await session.scalars(
                select(MetricRollup.metric)
                .where(MetricRollup.org_id == org_id, MetricRollup.dimension == WINDOW)
                .distinct()
            )
            assert len(set(packs)) == 3  # the declared pack and each custom metric's
            customs = await session.scalars(
                select(CustomMetric).where(CustomMetric.org_id == org_id)
            )
            for definition in customs:
                assert definition.rollup_signature == signature([as_metric(definition)])
        assert await _windows_read(database, org_id, tz, start) == 3
        assert await series(org_id) == before


async def test_a_rebuild_longer_than_a_chunk_writes_every_window(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows are rebuilt ``CHUNK`` of starts at a time: a 45-day fold writes them all,
    each equal to its quarter hours (chunks of 3 days and 5 quarters: a dozen seams)."""
    monkeypatch.setattr(windows, "CHUNK", 3 * DAY + 5)
    database: Database = app.state.db
    received = BASE + timedelta(days=65)
    tz = ZoneInfo("Asia/Kathmandu")
    start = datetime(2026, 3, 21, tzinfo=tz).astimezone(UTC)
    days = 43
    facts = [Fact(minute, minute % 9, 1, "order.paid") for minute in range(0, 60 * 24 * 45, 23)]
    with use_clock(FrozenClock(received)):
        org_id = await _new_org(database, "Asia/Kathmandu")
        await _insert(database, org_id, facts, received)
        await rollup.fold(database, now=received + timedelta(minutes=1), lag=timedelta(0))
        assert await _windows_read(database, org_id, tz, start, days) == days
        async with database.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(
                        MetricRollup.metric,
                        MetricRollup.dimension,
                        MetricRollup.hour,
                        MetricRollup.value,
                        MetricRollup.totals,
                    ).where(
                        MetricRollup.org_id == org_id,
                        MetricRollup.dimension.in_([WINDOW, "@quarter"]),
                    )
                )
            ).all()
        # Every window of every start equals its 96 quarter hours' rows, none missing.
        quarters: dict[tuple[str, int], list[float]] = {}
        stored: dict[tuple[str, int], list[float]] = {}
        for pack, dimension, hour, value, totals in rows:
            if dimension == WINDOW:
                stored[(pack, hour)] = list(totals)
            else:
                quarters[(pack, hour * 4 + int(value))] = list(totals)
        starts: set[tuple[str, int]] = set()
        for pack, quarter in quarters:
            for start_quarter in range(quarter - DAY + 1, quarter + 1):
                if start_quarter % DAY in STARTS:
                    starts.add((pack, start_quarter))
        sums: dict[tuple[str, int], list[float]] = {}
        for pack, start_quarter in starts:
            parts = [
                quarters[(pack, q)]
                for q in range(start_quarter, start_quarter + DAY)
                if (pack, q) in quarters
            ]
            sums[(pack, start_quarter)] = [sum(items) for items in zip(*parts, strict=True)]
        assert stored == sums
        async with database.sessionmaker() as session:
            result = await Analytics(session, org_id).series(
                SeriesSpec(
                    ("events.total", "custom.paid"),
                    Interval.DAY,
                    start,
                    start + timedelta(days=days),
                    tz,
                    compare=False,
                )
            )
        for entry, value in zip(result["series"], ("count", "amount"), strict=True):
            for point in entry["points"]:
                low = datetime.fromisoformat(point["start"])
                high = low + timedelta(days=1)
                inside = [fact for fact in facts if max(low, start) <= fact.at < high]
                expected = len(inside) if value == "count" else sum(f.amount for f in inside)
                assert point["value"] == expected, (entry["metric"], low)
