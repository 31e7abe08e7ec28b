"""Property: every series equals a direct aggregate over the raw facts.

Random facts (some arriving late, after their hour was folded), random time
zones with 30/45-minute offsets and daylight saving, every interval, before and
after the rollup job runs. The oracle below is plain Python over the facts,
sharing no code with the engine.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commbase.analytics import rollup
from commbase.analytics.enums import Interval
from commbase.analytics.models import CustomMetric
from commbase.analytics.periods import INTERVALS
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.core.db import Database
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.models import Organization
from commbase.tracking.models import TrackedEvent

BASE = datetime(2026, 3, 20, tzinfo=UTC)  # spans Europe's and Adelaide's DST changes
ZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Europe/Oslo",
    "Australia/Adelaide",
]
_orgs = itertools.count(1)


@dataclass(frozen=True)
class Fact:
    minute: int  # minutes after BASE
    amount: int
    user: int
    kind: str

    @property
    def at(self) -> datetime:
        return BASE + timedelta(minutes=self.minute)


facts_strategy = st.lists(
    st.builds(
        Fact,
        minute=st.integers(0, 60 * 24 * 21),
        amount=st.integers(0, 500),
        user=st.integers(0, 6),
        kind=st.sampled_from(["order.paid", "call.quality_degraded"]),
    ),
    min_size=1,
    max_size=40,
)


def _label(moment: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    elif interval == "year":
        day = day.replace(month=1, day=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def oracle(
    facts: list[Fact], interval: Interval, tz: ZoneInfo, start: datetime, end: datetime
) -> dict[str, dict[datetime, float]]:
    inside = [f for f in facts if start <= f.at < end]
    count: dict[datetime, float] = defaultdict(float)
    paid_count: dict[datetime, float] = defaultdict(float)
    paid_sum: dict[datetime, float] = defaultdict(float)
    users: dict[datetime, set[int]] = defaultdict(set)
    for fact in inside:
        label = _label(fact.at, interval, tz)
        count[label] += 1
        users[label].add(fact.user)
        if fact.kind == "order.paid":
            paid_count[label] += 1
            paid_sum[label] += fact.amount
    return {
        "events.total": dict(count),
        "events.users": {k: float(len(v)) for k, v in users.items()},
        "custom.paid": dict(paid_sum),
        "custom.paid_avg": {k: round(paid_sum[k] / n, 4) for k, n in paid_count.items()},
    }


async def _new_org(database: Database, tz: str) -> str:
    number = next(_orgs)
    async with database.sessionmaker() as session:
        org = Organization(name=f"Prop {number}", slug=f"prop-{number}", timezone=tz)
        session.add(org)
        await session.flush()
        for name, aggregate in (("paid", "sum"), ("paid_avg", "avg")):
            session.add(
                CustomMetric(
                    org_id=org.id,
                    name=name,
                    event_type="order.paid",
                    aggregate=aggregate,
                    field="data.amount",
                )
            )
        await session.commit()
        return org.id


async def _insert(database: Database, org_id: str, facts: list[Fact], received: datetime) -> None:
    async with database.sessionmaker() as session:
        for fact in facts:
            session.add(
                TrackedEvent(
                    org_id=org_id,
                    event_id=f"e{id(fact)}-{received.timestamp()}-{fact.minute}",
                    type=fact.kind,
                    user_id=f"u{fact.user}",
                    data={"amount": fact.amount},
                    metadata_={},
                    occurred_at=fact.at,
                    received_at=received,
                    expires_at=received + timedelta(days=90),
                )
            )
        await session.commit()


def expected_labels(
    interval: Interval, tz: ZoneInfo, start: datetime, end: datetime
) -> set[datetime]:
    """Every calendar interval [start, end) touches, found by walking it in quarter hours."""
    labels = {_label(start, interval, tz), _label(end - timedelta(microseconds=1), interval, tz)}
    moment = start
    while moment < end:
        labels.add(_label(moment, interval, tz))
        moment += timedelta(minutes=15)
    return labels


async def _check(
    database: Database,
    org_id: str,
    facts: list[Fact],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
) -> None:
    metrics = ("events.total", "events.users", "custom.paid", "custom.paid_avg")
    for interval in INTERVALS:
        async with database.sessionmaker() as session:
            result = await Analytics(session, org_id).series(
                SeriesSpec(metrics, interval, start, end, tz, compare=False)
            )
        expected = oracle(facts, interval, tz, start, end)
        labels = expected_labels(interval, tz, start, end)
        assert [e["metric"] for e in result["series"]] == list(metrics)
        for entry in result["series"]:
            got = {datetime.fromisoformat(p["start"]): float(p["value"]) for p in entry["points"]}
            # Every point, zeros included: the engine's intervals are the oracle's.
            want = {label: expected[entry["metric"]].get(label, 0.0) for label in labels}
            assert got == want, (entry["metric"], interval, str(tz))
            assert len(entry["points"]) == len(got)  # no interval twice


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    facts=facts_strategy,
    late=facts_strategy,
    zone_name=st.sampled_from(ZONES),
    start_minute=st.integers(0, 60 * 24 * 3),
    span_hours=st.integers(1, 24 * 21),
)
async def test_series_equal_raw_aggregates_before_and_after_rollups(
    app: FastAPI,
    facts: list[Fact],
    late: list[Fact],
    zone_name: str,
    start_minute: int,
    span_hours: int,
) -> None:
    database: Database = app.state.db
    tz = ZoneInfo(zone_name)
    start = BASE + timedelta(minutes=start_minute)
    end = start + timedelta(hours=span_hours, minutes=start_minute % 60)
    # Time only moves forward across examples, as it does for the watermark.
    received = BASE + timedelta(days=30, hours=next(_orgs))
    clock = FrozenClock(received)
    with use_clock(clock):
        org_id = await _new_org(database, zone_name)
        await _insert(database, org_id, facts, received)
        await _check(database, org_id, facts, tz, start, end)  # nothing folded: all live

        await rollup.fold(database, now=received + timedelta(minutes=2), lag=timedelta(0))
        await _check(database, org_id, facts, tz, start, end)  # all sealed

        # Late facts: their hours were sealed, they arrive after the watermark.
        await _insert(database, org_id, late, received + timedelta(minutes=5))
        await _check(database, org_id, facts + late, tz, start, end)

        await rollup.fold(database, now=received + timedelta(minutes=10), lag=timedelta(0))
        await _check(database, org_id, facts + late, tz, start, end)


async def test_days_in_half_hour_zones_come_from_quarter_hour_rollups(app: FastAPI) -> None:
    """After a fold, a day edge at :30 UTC reads sealed quarter-hour totals, no raw facts."""
    from commbase.analytics import planner
    from commbase.analytics.periods import boundaries
    from commbase.analytics.registry import lookup
    from commbase.analytics.scope import Scope

    database: Database = app.state.db
    received = BASE + timedelta(days=60)
    facts = [Fact(minute, 1, 0, "order.paid") for minute in range(0, 60 * 24 * 4, 7)]
    with use_clock(FrozenClock(received)):
        org_id = await _new_org(database, "Asia/Kolkata")
        await _insert(database, org_id, facts, received)
        await rollup.fold(database, now=received + timedelta(minutes=1), lag=timedelta(0))
        tz = ZoneInfo("Asia/Kolkata")
        start, end = BASE + timedelta(hours=6, minutes=30), BASE + timedelta(days=3, minutes=30)
        edges, _ = boundaries(start, end, Interval.DAY, tz)
        async with database.sessionmaker() as session:
            planned = await planner.plan(session, [lookup("events.total")], edges, Scope(org_id))
        [entry] = planned.sources
        assert entry.raw_hours == set()
        assert len(entry.quarter_hours) == len(edges)  # one per day edge, from and to included
        await _check(database, org_id, facts, tz, start, end)


async def test_a_late_fact_reopens_only_its_quarter_hour(app: FastAPI) -> None:
    """A fact arriving after its hour was folded: only its quarter hour is read raw,
    the hour's other quarters from their rollups, and the series stays exact."""
    from commbase.analytics import planner
    from commbase.analytics.periods import boundaries
    from commbase.analytics.registry import lookup
    from commbase.analytics.scope import Scope

    database: Database = app.state.db
    received = BASE + timedelta(days=61)
    facts = [Fact(minute, minute % 50, 1, "order.paid") for minute in range(0, 60 * 24 * 2, 7)]
    late = [Fact(5 * 60 + 20, 30, 2, "order.paid")]  # 05:20: the hour's second quarter
    with use_clock(FrozenClock(received)):
        org_id = await _new_org(database, "UTC")
        await _insert(database, org_id, facts, received)
        await rollup.fold(database, now=received + timedelta(minutes=1), lag=timedelta(0))
        await _insert(database, org_id, late, received + timedelta(minutes=5))
        tz = ZoneInfo("UTC")
        start, end = BASE, BASE + timedelta(days=2)
        edges, _ = boundaries(start, end, Interval.DAY, tz)
        async with database.sessionmaker() as session:
            planned = await planner.plan(session, [lookup("events.total")], edges, Scope(org_id))
        [entry] = planned.sources
        hour = int(late[0].at.timestamp()) // 3600
        assert entry.raw_hours == set()
        assert entry.quarter_hours == {hour}
        assert entry.raw_quarters == {hour * 4 + 1}
        await _check(database, org_id, facts + late, tz, start, end)
