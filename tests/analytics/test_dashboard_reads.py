"""A dashboard's series of declared metrics: few round trips, and still exact.

A read of declared metrics does not load the organization's custom metrics, plans
with the watermarks last read and checks them in its data-version statement, and
on PostgreSQL reads a pack's hours and the quarter hours at half-hour day edges in
one statement. A watermark that changed since (a fold, a rebuild under another
definition) is noticed by that check, and the read is planned again.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event, update

from commbase.analytics import planner, rollup
from commbase.analytics.enums import Interval
from commbase.analytics.models import MetricRollup, Watermark
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.core.db import Database
from commbase.core.time import FrozenClock, use_clock
from commbase.identity.models import Organization
from commbase.tracking.metrics import TRACKED_EVENTS
from commbase.tracking.models import TrackedEvent

BASE = datetime(2026, 5, 4, tzinfo=UTC)
RECEIVED = BASE + timedelta(days=30)


async def _org_with_events(database: Database, slug: str, minutes: range) -> str:
    async with database.sessionmaker() as session:
        org = Organization(name=slug, slug=slug, timezone="Asia/Kolkata")
        session.add(org)
        await session.flush()
        for minute in minutes:
            at = BASE + timedelta(minutes=minute)
            session.add(
                TrackedEvent(
                    org_id=org.id,
                    event_id=f"{slug}-{minute}",
                    type="order.paid",
                    user_id="u1",
                    data={"amount": 1},
                    metadata_={},
                    occurred_at=at,
                    received_at=RECEIVED,
                    expires_at=RECEIVED + timedelta(days=90),
                )
            )
        await session.commit()
        return org.id


async def _series(database: Database, org_id: str, tz: str) -> list[Any]:
    spec = SeriesSpec(
        ("events.total",),
        Interval.DAY,
        BASE + timedelta(hours=-5, minutes=-30),
        BASE + timedelta(days=3, hours=-5, minutes=-30),
        ZoneInfo(tz),
        compare=False,
    )
    async with database.sessionmaker() as session:
        result = await Analytics(session, org_id).series(spec)
    [entry] = result["series"]
    return [point["value"] for point in entry["points"]]


async def test_declared_metrics_in_a_half_hour_zone_take_few_statements(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    database: Database = app.state.db
    minutes = range(0, 60 * 24 * 3, 11)
    sent: list[str] = []
    plans: list[planner.Plan] = []
    plan = planner.plan

    async def _plan(*args: Any, **kwargs: Any) -> planner.Plan:
        plans.append(await plan(*args, **kwargs))
        return plans[-1]

    def _sent(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    with use_clock(FrozenClock(RECEIVED)):
        org_id = await _org_with_events(database, "reads-few", minutes)
        await rollup.fold(database, now=RECEIVED + timedelta(minutes=1), lag=timedelta(0))
        await _series(database, org_id, "Asia/Kolkata")  # the watermarks are read once
        event.listen(database.engine.sync_engine, "before_cursor_execute", _sent)
        monkeypatch.setattr(planner, "plan", _plan)
        try:
            values = await _series(database, org_id, "Asia/Kolkata")
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", _sent)
            monkeypatch.undo()
    # Kolkata days start at 18:30 UTC: 2026-05-03 18:30 .. 2026-05-06 18:30.
    starts = [BASE + timedelta(days=d, hours=-5, minutes=-30) for d in range(4)]
    expected = [
        sum(1 for m in minutes if low <= BASE + timedelta(minutes=m) < high)
        for low, high in itertools.pairwise(starts)
    ]
    assert values == expected
    reads = [s for s in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert not [s for s in reads if "custom_metrics" in s]
    # The watermarks are read again on their own only if a fold moved them in between
    # (other tests' folds may: watermarks are not per organization).
    assert len([s for s in reads if s.lstrip().startswith("SELECT analytics_watermarks")]) <= 1
    # Nothing moved since the first series: the plan made with
    # the watermarks already known holds, it is not made again.
    assert plans
    assert not [p for p in plans if p.stale]
    if database.dialect == "postgresql":
        # The sealed hours and the quarter hours at the day edges: one statement.
        assert len([s for s in reads if "metric_rollups" in s]) == 1


async def test_a_watermark_changed_since_it_was_read_is_noticed(app: FastAPI) -> None:
    database: Database = app.state.db
    minutes = range(0, 60 * 24 * 3, 13)
    with use_clock(FrozenClock(RECEIVED)):
        org_id = await _org_with_events(database, "reads-rebuilt", minutes)
        await rollup.fold(database, now=RECEIVED + timedelta(minutes=1), lag=timedelta(0))
        before = await _series(database, org_id, "UTC")
        # As if the definitions changed and their rollups were being rebuilt: the
        # watermark's signature is another one and this organization's rollups are gone.
        async with database.sessionmaker() as session:
            await session.execute(
                update(Watermark)
                .where(Watermark.source == TRACKED_EVENTS.watermark_key)
                .values(signature="rebuilding")
            )
            await session.execute(delete(MetricRollup).where(MetricRollup.org_id == org_id))
            await session.commit()
        after = await _series(database, org_id, "UTC")
    start, end = (
        BASE + timedelta(hours=-5, minutes=-30),
        BASE + timedelta(days=3, hours=-5, minutes=-30),
    )
    assert sum(before) == sum(1 for m in minutes if start <= BASE + timedelta(minutes=m) < end)
    assert after == before  # from the raw facts now, not the missing rollups
