"""PostgreSQL plans analytics reads for their parameters (``force_custom_plan``) and every
other statement with its default plan cache (``auto``): bulk writes keep cached plans of
their foreign-key checks (``core.plans``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.util import await_only

from commbase.analytics.enums import Interval
from commbase.analytics.service import Analytics, SeriesSpec
from commbase.core.db import Database
from tests.identity.factories import make_tenant

SHOW = "SHOW plan_cache_mode"


def _record_modes(database: Database) -> list[tuple[str, str]]:
    """(statement, the plan_cache_mode it ran under) of every statement from now on."""
    seen: list[tuple[str, str]] = []

    @event.listens_for(database.engine.sync_engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Asked on the same connection right after the statement (its rows are fetched).
        driver = conn.connection.dbapi_connection.driver_connection
        seen.append((statement, str(await_only(driver.fetchval(SHOW)))))

    return seen


async def _pooled_modes(database: Database) -> set[str]:
    """The setting of every connection in the pool now, each checked out at once."""
    count = database.engine.pool.checkedin()  # type: ignore[attr-defined]
    assert count > 0
    connections = [await database.engine.connect() for _ in range(count)]
    try:
        return {str(await c.scalar(text(SHOW))) for c in connections}
    finally:
        for connection in connections:
            await connection.close()


def _reads_facts(statement: str) -> bool:
    return any(table in statement for table in ("metric_rollups", "FROM calls", "ledger_entries"))


async def test_analytics_reads_plan_custom_and_other_statements_do_not(
    app: FastAPI, client: httpx.AsyncClient, stack: str
) -> None:
    if stack != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    tenant = await make_tenant(app)
    database: Database = app.state.db
    seen = _record_modes(database)

    # An ordinary write request: PostgreSQL's default.
    created = await client.post("/v1/contacts", json={"name": "Ada"}, headers=tenant.headers)
    assert created.status_code == 201
    writes = [mode for statement, mode in seen if statement.startswith("INSERT")]
    assert writes
    assert set(writes) == {"auto"}

    # A read request (autocommit, core.readonly): the series' reads plan custom, the
    # authentication before them does not.
    seen.clear()
    read = await client.get(
        "/v1/analytics/series?metrics=calls.total,revenue.topups&interval=day"
        "&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
        headers=tenant.headers,
    )
    assert read.status_code == 200, read.text
    analytics = [mode for statement, mode in seen if _reads_facts(statement)]
    assert analytics
    assert set(analytics) == {"force_custom_plan"}
    assert seen[0][1] == "auto"  # the request's first statement (its authentication)
    # Returned to the pool, its connection is back on the default.
    assert await _pooled_modes(database) == {"auto"}

    # A transaction (a job's, a writer's): until it ends.
    end = datetime(2026, 3, 1, tzinfo=UTC)
    spec = SeriesSpec(
        ("calls.total",), Interval.DAY, end - timedelta(days=30), end, ZoneInfo("UTC")
    )
    async with database.sessionmaker() as session:
        assert await session.scalar(text(SHOW)) == "auto"
        await Analytics(session, tenant.org_id).series(spec)
        assert await session.scalar(text(SHOW)) == "force_custom_plan"
        await session.commit()
        assert await session.scalar(text(SHOW)) == "auto"
        # Asked again in the next transaction, it is set again.
        await Analytics(session, tenant.org_id).series(spec)
        assert await session.scalar(text(SHOW)) == "force_custom_plan"
        await session.rollback()
    await asyncio.sleep(0)
    assert await _pooled_modes(database) == {"auto"}
