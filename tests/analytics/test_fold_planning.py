"""PostgreSQL plans the rollup fold by hashing: migration 0045's statistics let it
count the hours and quarter-hour values a fold groups by, instead of taking each
expression of a timestamp to have a value per fact. A large fold leaves
``metric_rollups`` analyzed, so rollup reads are planned from its real size."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, text

from commbase.analytics import folding, registry, rollup
from commbase.analytics.aggregates import dimension_value
from commbase.analytics.sql import hour_of, quarter_of
from commbase.calls.models import Call
from commbase.core.time import utcnow
from tests.identity.factories import make_tenant

FIRST = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
HOURS = 40
PER_HOUR = 60


def _estimated_groups(plan: Any) -> float:
    return float(plan[0]["Plan"]["Plan Rows"])


async def test_the_planner_counts_a_folds_hours_and_quarters(app: FastAPI, stack: str) -> None:
    if stack != "postgresql":
        pytest.skip("planner statistics exist on PostgreSQL only")
    tenant = await make_tenant(app)
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            Call(
                org_id=tenant.org_id,
                provider="simulator",
                status="completed",
                created_at=FIRST + timedelta(hours=hour, seconds=57 * n + 1),
            )
            for hour in range(HOURS)
            for n in range(PER_HOUR)
        )
        await session.commit()
    async with app.state.db.engine.connect() as connection:
        await connection.execute(text("ANALYZE calls"))
        hours = await connection.scalar(
            select(func.count(func.distinct(hour_of(Call.created_at, "postgresql"))))
        )
        estimates = []
        for expression in (
            hour_of(Call.created_at, "postgresql"),
            dimension_value(quarter_of(Call.created_at, "postgresql")),
        ):
            query = select(expression.label("k")).group_by("k")
            compiled = query.compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = await connection.scalar(text(f"EXPLAIN (FORMAT JSON) {compiled}"))
            estimates.append(_estimated_groups(plan))
        facts = await connection.scalar(select(func.count()).select_from(Call))

    assert hours is not None
    assert facts is not None
    assert facts >= HOURS * PER_HOUR
    # Without the statistics both estimates are about one group per fact.
    assert estimates[0] <= 3 * hours + 10, (estimates, hours, facts)
    assert estimates[1] <= 10, (estimates, facts)


def test_migration_0045_holds_the_folds_expressions_for_every_source() -> None:
    """0045 froze the fold's hour and quarter expressions; a fold writing them another
    way (or a new source's time column) would plan by sorting again, unnoticed: it
    needs statistics of its own (a new migration), which this test asks for."""
    path = next((Path(__file__).parents[2] / "migrations" / "versions").glob("*-0045_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0045", path)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    sources = {
        (str(metric.source.table.name), str(metric.source.time.name))  # type: ignore[union-attr]
        for metrics in registry.registered_sources().values()
        for metric in metrics
    }
    assert sources <= set(migration.SOURCES)
    for table, column in sorted(sources):
        assert migration.planner_statistics(table, column) == folding.planner_statistics(
            table, column
        )


_ROLLUP_STATS = text(
    "SELECT c.reltuples, s.analyze_count FROM pg_class c "
    "JOIN pg_stat_all_tables s ON s.relid = c.oid WHERE c.oid = 'metric_rollups'::regclass"
)


async def _rollup_stats(app: FastAPI) -> tuple[float, int, int]:
    """(rows PostgreSQL plans with, manual ANALYZE runs, rows there are)."""
    async with app.state.db.engine.connect() as connection:
        planned, analyzed = (await connection.execute(_ROLLUP_STATS)).one()
        rows = await connection.scalar(text("SELECT count(*) FROM metric_rollups"))
    return float(planned), int(analyzed), int(rows or 0)


def _calls(org_id: str, first_hour: int, hours: int) -> list[Call]:
    return [
        Call(
            org_id=org_id,
            provider="simulator",
            status="completed",
            created_at=FIRST + timedelta(hours=first_hour + hour, minutes=15 * quarter + 1),
        )
        for hour in range(hours)
        for quarter in range(4)
    ]


async def test_a_large_fold_analyzes_the_rollups_a_small_one_does_not(
    app: FastAPI, stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if stack != "postgresql":
        pytest.skip("planner statistics exist on PostgreSQL only")
    tenant = await make_tenant(app)
    async with app.state.db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("ANALYZE metric_rollups"))  # empty: 0 rows planned
    planned, analyzed, rows = await _rollup_stats(app)
    assert (planned, rows) == (0, 0)

    # Below the threshold (every-minute folds): no ANALYZE, the planner still sees none.
    monkeypatch.setattr(rollup, "ANALYZE_MIN_ROWS", 1_000_000)
    async with app.state.db.sessionmaker() as session:
        session.add_all(_calls(tenant.org_id, 0, 10))
        await session.commit()
    written = await rollup.fold(app.state.db, now=utcnow(), lag=timedelta(0))
    after_small = await _rollup_stats(app)
    assert written >= 50  # an hour's total and four quarters at least, ten hours
    assert after_small[:2] == (0, analyzed)
    assert after_small[2] > 0

    # At the threshold: ANALYZE, and the planner sees every rollup row.
    monkeypatch.setattr(rollup, "ANALYZE_MIN_ROWS", 50)
    async with app.state.db.sessionmaker() as session:
        session.add_all(_calls(tenant.org_id, 20, 10))
        await session.commit()
    await rollup.fold(app.state.db, now=utcnow(), lag=timedelta(0))
    planned, analyzed_after, rows = await _rollup_stats(app)
    assert analyzed_after == analyzed + 1
    assert planned == rows > after_small[2]


@pytest.mark.parametrize(
    ("key", "table", "index"),
    [
        ("contacts", "contacts", "ix_contacts_org_updated"),
        ("login_sessions", "login_sessions", "ix_login_sessions_org_created"),
        ("conversations", "conversations", "ix_conversations_org_facts_changed"),
    ],
)
async def test_the_fold_finds_changed_rows_by_the_organizations_change_index(
    app: FastAPI, stack: str, key: str, table: str, index: str
) -> None:
    """The every-minute fold's read of rows changed since the watermark is a range of
    (org_id, change time) per organization, not a scan of the table (migration 0060)."""
    await make_tenant(app)
    source = registry.registered_sources()[key][0].source
    assert source is not None
    sent: list[tuple[str, Any]] = []

    def _capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _capture)
    try:
        async with app.state.db.sessionmaker() as session:
            now = utcnow()
            await rollup._dirty_hours(session, source, key, now - timedelta(minutes=2), now)
    finally:
        event.remove(engine, "before_cursor_execute", _capture)
    statement, params = next((s, p) for s, p in sent if f"FROM {table}" in s)
    async with app.state.db.engine.connect() as connection:
        if stack == "postgresql":
            # Test tables are tiny, where a scan is cheapest: ask whether the index can
            # serve it at all.
            await connection.exec_driver_sql("SET enable_seqscan = off")
            rows = await connection.exec_driver_sql("EXPLAIN " + statement, params)
            plan = "\n".join(str(row[0]) for row in rows)
            await connection.exec_driver_sql("RESET enable_seqscan")
        else:
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plan = "\n".join(str(row[-1]) for row in rows)
    assert index in plan, plan
    assert f"SCAN {table}" not in plan, plan
    assert f"Seq Scan on {table}" not in plan, plan
