"""Packed rollups: figures served from them equal direct aggregation, and a busy hour's
rollup rows stay bounded however many users, agent sessions or values it holds."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from commbase.analytics import rollup
from commbase.analytics.aggregates import MAX_VALUES_PER_HOUR, place
from commbase.analytics.enums import Interval
from commbase.analytics.models import MetricRollup
from commbase.analytics.registry import registered
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.analytics.windows import STARTS, WINDOW
from commbase.billing.models import LedgerEntry, Wallet
from commbase.calls.models import Call
from commbase.core.time import FrozenClock, use_clock
from tests.identity.factories import make_tenant

# Europe/Oslo moves to summer time on 2026-03-29 at 01:00 UTC; the range spans it.
NOW = datetime(2026, 4, 3, 12, 0, tzinfo=UTC)
FIRST = datetime(2026, 3, 24, 0, 0, tzinfo=UTC)
METRICS = (
    "calls.total",
    "calls.completed",
    "calls.success_rate",
    "calls.duration",
    "calls.duration_avg",
    "calls.rating_avg",
    "revenue.topups",
    "revenue.call_charges",
)
STATUSES = ("completed", "completed", "failed", "busy", "no-answer")


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


def _call(org_id: str, at: datetime, rng: random.Random, **values: Any) -> Call:
    status = rng.choice(STATUSES)
    row: dict[str, Any] = {
        "org_id": org_id,
        "provider": "simulator",
        "status": status,
        "to_country": rng.choice(("NO", "SE", "IN")),
        "user_id": f"usr_{rng.randint(0, 5)}",
        "created_at": at,
        "updated_at": at,
    }
    if status == "completed":
        row.update(
            duration_seconds=rng.randint(1, 900),
            review_rating=rng.choice((None, 3, 5)),
            cost_amount=rng.randint(1, 90),
        )
    row.update(values)
    return Call(**row)


async def _series(app: FastAPI, org_id: str, spec: SeriesSpec, *, use_rollups: bool) -> list[Any]:
    async with app.state.db.sessionmaker() as session:
        result = await Analytics(session, org_id).series(spec, use_rollups=use_rollups)
    return [
        (
            entry["metric"],
            entry["group"],
            [(p["start"], round(float(p["value"]), 6)) for p in entry["points"]],
            round(float(entry["total"]), 6),
        )
        for entry in result["series"]
    ]


def _specs(tz: str) -> list[SeriesSpec]:
    zone = ZoneInfo(tz)
    start, end = FIRST + timedelta(hours=5), NOW - timedelta(hours=1)
    return [
        SeriesSpec(METRICS, Interval.DAY, start, end, zone, compare=False),
        SeriesSpec(METRICS[:3], Interval.HOUR, start, end, zone, compare=False),
        SeriesSpec(
            ("calls.total",), Interval.DAY, start, end, zone, compare=False, group_by="status"
        ),
        SeriesSpec(
            ("calls.total",), Interval.DAY, start, end, zone, compare=False, group_by="user"
        ),
    ]


async def test_rollup_figures_equal_direct_aggregation_in_kolkata_and_utc_across_dst(
    app: FastAPI, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    rng = random.Random(19)
    placed: list[datetime] = []
    async with app.state.db.sessionmaker() as session:
        wallet = Wallet(
            org_id=tenant.org_id, owner_type="organization", owner_id=tenant.org_id,
            currency="USD", balance=0,
        )  # fmt: skip
        session.add(wallet)
        await session.flush()
        for _ in range(400):
            # Any minute, many of them on the quarter hours Kolkata's days start at.
            at = FIRST + timedelta(minutes=rng.randrange(0, 10 * 24 * 60))
            if rng.random() < 0.3:
                at = at.replace(minute=rng.choice((0, 15, 29, 30, 31, 45, 59)))
            session.add(_call(tenant.org_id, at, rng))
            placed.append(at)
            if rng.random() < 0.3:
                topup = rng.random() < 0.5
                session.add(
                    LedgerEntry(
                        org_id=tenant.org_id, wallet_id=wallet.id,
                        type="credit" if topup else "debit",
                        category="wallet_topup" if topup else "call_charge",
                        amount=rng.randint(1, 5000), currency="USD", balance_before=0,
                        balance_after=0, created_at=at, completed_at=at,
                    )
                )  # fmt: skip
        await session.commit()
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))

    served: dict[tuple[str, int], list[Any]] = {}
    for tz in ("Asia/Kolkata", "UTC", "Europe/Oslo"):
        for number, spec in enumerate(_specs(tz)):
            rolled = await _series(app, tenant.org_id, spec, use_rollups=True)
            direct = await _series(app, tenant.org_id, spec, use_rollups=False)
            assert rolled == direct, (tz, spec.interval, spec.group_by)
            served[(tz, number)] = rolled
    spec = _specs("UTC")[0]
    in_range = sum(spec.start <= at < spec.end for at in placed)
    assert served[("UTC", 0)][0][3] == in_range > 300  # every call counted once

    # Purge the raw calls as retention does (no touch): what still counts came from
    # the rollups, so the figures above were served by them (the grouping by user,
    # which is not rolled up, is read raw and now finds nothing).
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(Call).where(Call.org_id == tenant.org_id))
        await session.commit()
    for tz in ("Asia/Kolkata", "UTC", "Europe/Oslo"):
        # Split by status, the hours Kolkata's days cut at :30 are read raw (quarter
        # rollups hold totals only): that series is checked only on whole hours.
        served_specs = 2 if tz == "Asia/Kolkata" else 3
        for number, spec in enumerate(_specs(tz)[:served_specs]):
            assert await _series(app, tenant.org_id, spec, use_rollups=True) == served[(tz, number)]
        by_user = await _series(app, tenant.org_id, _specs(tz)[3], use_rollups=True)
        assert all(total == 0 for *_, total in by_user)


async def test_rollup_rows_of_a_busy_hour_stay_bounded(app: FastAPI, clock: FrozenClock) -> None:
    """500 calls in one hour, each by its own user and agent session, to 100 countries:
    a bounded number of rows, not one per user (or per metric), and exact answers."""
    tenant = await make_tenant(app)
    rng = random.Random(7)
    hour = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    letters = string.ascii_uppercase
    countries = [a + b for a in letters[:4] for b in letters][:100]
    async with app.state.db.sessionmaker() as session:
        for n in range(500):
            at = hour + timedelta(seconds=rng.randrange(3600))
            session.add(
                _call(
                    tenant.org_id, at, rng, user_id=f"usr_{n:04d}",
                    agent_session_id=f"ags_{n:04d}", to_country=countries[n % 100],
                )
            )  # fmt: skip
        await session.commit()
    await rollup.fold(app.state.db, now=NOW, lag=timedelta(0))

    async with app.state.db.sessionmaker() as session:
        rows = dict(
            (
                await session.execute(
                    select(MetricRollup.dimension, func.count())
                    .where(
                        MetricRollup.org_id == tenant.org_id,
                        MetricRollup.metric == place(registered()["calls.total"])[0],
                    )
                    .group_by(MetricRollup.dimension)
                )
            ).all()
        )
    assert "user" not in rows
    assert "agent_session" not in rows
    assert (rows[""], rows["@quarter"]) == (1, 4)
    assert "country" not in rows  # 100 values: read raw for this hour
    assert rows["!country"] == 1
    assert all(count <= MAX_VALUES_PER_HOUR for count in rows.values())
    # The 24-hour window from each start holding the hour (two where one starts inside it).
    assert len(STARTS) <= rows.pop(WINDOW) <= len(STARTS) + 3
    assert sum(rows.values()) < 40  # every metric of the source in each row

    start, end = hour - timedelta(hours=3), hour + timedelta(hours=3)
    for group_by in ("country", "user", "agent_session", "status"):
        spec = SeriesSpec(
            ("calls.total", "calls.duration_avg"), Interval.HOUR, start, end, ZoneInfo("UTC"),
            compare=False, group_by=group_by, group_limit=100,
        )  # fmt: skip
        rolled = await _series(app, tenant.org_id, spec, use_rollups=True)
        assert rolled == await _series(app, tenant.org_id, spec, use_rollups=False)
        assert sum(total for metric, _, _, total in rolled if metric == "calls.total") == 500
