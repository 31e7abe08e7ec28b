"""Monthly partitions of tracked events, call events and webhook attempts on PostgreSQL;
plain tables on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from commbase.cli import alembic_config
from commbase.core import partitions
from commbase.core.jobs import JobContext
from commbase.core.time import FrozenClock, use_clock
from commbase.privacy import retention
from commbase.privacy.registry import retention_kinds
from tests.conftest import _create_database_if_missing, in_thread
from tests.identity.factories import Tenant, make_tenant

START = datetime(2031, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(START)
    with use_clock(frozen):
        yield frozen


def postgresql_only(stack: str) -> None:
    if stack != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")


async def run_ahead(app: FastAPI, now: datetime) -> int:
    return await partitions.partitions_ahead(
        JobContext(database=app.state.db, now=now, run_id="test")
    )


async def post(client: httpx.AsyncClient, tenant: Tenant, events: list[dict[str, Any]]) -> Any:
    answer = await client.post(
        "/v1/track/events",
        content=orjson.dumps(events),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def placement(app: FastAPI, org_id: str) -> dict[str, str]:
    """Each of the organization's events by id, and the partition that holds it."""
    async with app.state.db.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT event_id, tableoid::regclass::text FROM tracked_events WHERE org_id = :o"),
            {"o": org_id},
        )
        return {name: partition for name, partition in rows.all()}


async def test_the_fact_tables_are_partitioned_by_month_with_a_default(
    app: FastAPI, stack: str
) -> None:
    postgresql_only(stack)
    # The migration made this month's partitions; another test's retention pass may
    # have dropped the empty ones since, which the daily job puts back.
    await run_ahead(app, datetime.now(UTC))
    async with app.state.db.engine.connect() as connection:
        for table, key in partitions.PARTITIONED.items():
            strategy = await connection.scalar(
                text(
                    "SELECT p.partstrat::text || ':' || a.attname FROM pg_partitioned_table p "
                    "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
                    "WHERE p.partrelid = CAST(:t AS regclass)"
                ),
                {"t": table},
            )
            children = set(
                await connection.scalars(
                    text(
                        "SELECT inhrelid::regclass::text FROM pg_inherits "
                        "WHERE inhparent = CAST(:t AS regclass)"
                    ),
                    {"t": table},
                )
            )
            assert strategy == f"r:{key}", table
            assert f"{table}_default" in children
            assert partitions.partition_for(table, datetime.now(UTC)).name in children


async def test_sqlite_keeps_plain_tables_and_the_job_does_nothing(app: FastAPI, stack: str) -> None:
    if stack != "sqlite":
        pytest.skip("SQLite only")
    async with app.state.db.engine.connect() as connection:
        assert not await partitions.is_partitioned(connection, "tracked_events")
    assert await run_ahead(app, START) == 0


async def test_the_partition_job_creates_months_ahead_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    postgresql_only(stack)
    # A month no other test uses: partitions outlive a test's truncated rows.
    moment = datetime(2033, 6, 30, 23, 0, tzinfo=UTC)
    first = await run_ahead(app, moment)
    again = await run_ahead(app, moment)

    # June to September 2033 for each of the three tables, then nothing more to do.
    assert (first, again) == (4 * len(partitions.PARTITIONED), 0)
    async with app.state.db.engine.connect() as connection:
        months = {p.name for p in await partitions.month_partitions(connection, "call_events")}
    assert {"call_events_p203306", "call_events_p203309"} <= months
    assert not {"call_events_p203305", "call_events_p203310"} & months


async def test_rows_land_in_their_months_partition_and_strays_move_in_when_it_is_made(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    postgresql_only(stack)
    tenant = await make_tenant(app)
    await run_ahead(app, START)  # January to April 2031; December 2030 has no partition
    await post(
        client,
        tenant,
        [
            {"id": "jan", "type": "x", "timestamp": "2031-01-02T00:00:00Z"},
            {"id": "dec", "type": "x", "timestamp": "2030-12-31T23:59:59Z"},
        ],
    )
    assert await placement(app, tenant.org_id) == {
        "jan": "tracked_events_p203101",
        "dec": "tracked_events_default",
    }

    async with app.state.db.engine.begin() as connection:
        created = await partitions.create_month(
            connection, "tracked_events", datetime(2030, 12, 1, tzinfo=UTC)
        )

    assert created
    assert await placement(app, tenant.org_id) == {
        "jan": "tracked_events_p203101",
        "dec": "tracked_events_p203012",
    }


async def test_a_replay_with_another_timestamp_is_still_one_event(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    await run_ahead(app, START)
    tenant = await make_tenant(app)
    assert (await post(client, tenant, [{"id": "r", "type": "x"}]))["accepted"] == 1
    clock.advance(40 * 86_400)  # the retry's own "now" falls in another month

    replay = await post(client, tenant, [{"id": "r", "type": "x"}])

    assert replay == {"accepted": 0, "duplicates": 1, "rejected": []}


async def test_concurrent_replays_with_other_timestamps_store_one_event(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    await run_ahead(app, START)
    tenant = await make_tenant(app)
    clock.advance(70 * 86_400)
    now = clock.now()
    sends = [
        post(client, tenant, [{"id": f"c-{n % 3}", "type": "x", "timestamp": when}])
        for n in range(12)
        for when in [(now - timedelta(days=n * 5)).isoformat()]
    ]

    answers = await asyncio.gather(*sends)

    assert sum(a["accepted"] for a in answers) == 3
    assert sum(a["duplicates"] for a in answers) == 9
    async with app.state.db.engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT count(*) FROM tracked_events WHERE org_id = :org"),
            {"org": tenant.org_id},
        )
    assert stored == 3


async def test_retention_drops_wholly_expired_months_and_deletes_rows_only_at_the_boundary(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    postgresql_only(stack)
    tenant = await make_tenant(app)
    await run_ahead(app, START)
    await post(
        client,
        tenant,
        [
            {"id": "jan-a", "type": "x", "timestamp": "2031-01-05T00:00:00Z"},
            {"id": "jan-b", "type": "x", "timestamp": "2031-01-14T00:00:00Z"},
        ],
    )
    clock.set(datetime(2031, 2, 20, tzinfo=UTC))
    await post(
        client,
        tenant,
        [
            {"id": "feb-a", "type": "x", "timestamp": "2031-02-02T00:00:00Z"},
            {"id": "feb-b", "type": "x", "timestamp": "2031-02-19T00:00:00Z"},
        ],
    )
    # 90 days on: January's events and feb-a are past their expiry, feb-b is not.
    now = datetime(2031, 2, 2, tzinfo=UTC) + timedelta(days=90, hours=1)

    removed = await retention.purge_kind(
        app.state.db, retention_kinds()["analytics_events"], now=now
    )

    assert removed == 3
    assert await placement(app, tenant.org_id) == {"feb-b": "tracked_events_p203102"}
    async with app.state.db.engine.connect() as connection:
        names = {p.name for p in await partitions.month_partitions(connection, "tracked_events")}
    assert "tracked_events_p203101" not in names
    assert {"tracked_events_p203102", "tracked_events_p203104"} <= names
    # The ids of removed events (a dropped month's, a deleted row's) went with them: a
    # later batch may use one again for a new event; feb-b's is still a duplicate.
    clock.set(now)
    again = await post(
        client,
        tenant,
        [{"id": "jan-a", "type": "x"}, {"id": "feb-a", "type": "x"}, {"id": "feb-b", "type": "x"}],
    )
    assert again == {"accepted": 2, "duplicates": 1, "rejected": []}


async def test_a_batch_replaying_an_id_stores_its_other_events_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    await run_ahead(app, START)
    tenant = await make_tenant(app)
    await post(client, tenant, [{"id": "old", "type": "x"}])
    clock.advance(40 * 86_400)
    batch = [{"id": "old", "type": "x"}, {"type": "no-id"}, {"id": "new", "type": "x"}]

    first = await post(client, tenant, batch)
    second = await post(client, tenant, batch)

    assert first == {"accepted": 2, "duplicates": 1, "rejected": []}
    assert second == {"accepted": 1, "duplicates": 2, "rejected": []}  # the id-less one again
    async with app.state.db.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT event_id, type FROM tracked_events WHERE org_id = :o ORDER BY seq"),
            {"o": tenant.org_id},
        )
        stored = [(name if kind == "x" else "-", kind) for name, kind in rows.all()]
    assert stored == [("old", "x"), ("-", "no-id"), ("new", "x"), ("-", "no-id")]


# ---------------------------------------------------------------- the migration


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    step = command.downgrade if down else command.upgrade
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(step, alembic_config(url), revision).result()


# The rows the facts belong to, each column that needs a value given a plain one.
PARENTS = {
    "organizations": {"id": "org_1"},
    "calls": {"id": "call_1", "org_id": "org_1"},
    "webhook_endpoints": {"id": "whe_1", "org_id": "org_1"},
    "webhook_deliveries": {"id": "whd_1", "org_id": "org_1", "endpoint_id": "whe_1"},
}
PLAIN = {"jsonb": "'{}'", "boolean": "false", "integer": "0", "bigint": "0"}
SEED = """
INSERT INTO tracked_events (org_id, event_id, type, data, metadata, occurred_at, received_at,
    expires_at)
SELECT 'org_1', 'e' || n, 'x', '{}', '{}', t, t, t + interval '90 days'
FROM generate_series(1, 300) n, LATERAL (SELECT now() - n * interval '1 day' AS t) s;
INSERT INTO call_events (org_id, call_id, status, applied, source, occurred_at, payload, created_at)
SELECT 'org_1', 'call_1', 'ringing', true, 'test', t, '{}', t
FROM generate_series(1, 100) n, LATERAL (SELECT now() - n * interval '3 days' AS t) s;
INSERT INTO webhook_attempts (org_id, delivery_id, endpoint_id, attempt, url, request_headers,
    succeeded, worker, attempted_at, outcome)
SELECT 'org_1', 'whd_1', 'whe_1', 1, 'https://x.example', '{}', true, 'w', t, 'delivered'
FROM generate_series(1, 50) n, LATERAL (SELECT now() - n * interval '5 days' AS t) s;
"""


async def _counts(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            found: dict[str, Any] = {}
            for table in partitions.PARTITIONED:
                found[table] = (
                    await connection.execute(
                        text(f"SELECT count(*), count(DISTINCT tableoid) FROM {table}")  # noqa: S608
                    )
                ).one()
                found[f"{table}.partitioned"] = await partitions.is_partitioned(connection, table)
            return found
    finally:
        await engine.dispose()


async def _seed(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for table, given in PARENTS.items():
                needed = await connection.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = :t AND is_nullable = 'NO' AND column_default IS NULL"
                    ),
                    {"t": table},
                )
                values = {
                    name: f"'{given[name]}'"
                    if name in given
                    else PLAIN.get(kind, "now()" if kind.startswith("timestamp") else "'x'")
                    for name, kind in needed.all()
                }
                columns = ", ".join(values)
                await connection.execute(
                    text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(values.values())})")  # noqa: S608
                )
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute(SEED)  # type: ignore[union-attr]
    finally:
        await engine.dispose()


async def _recreate_schema(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def test_the_migration_moves_existing_rows_into_partitions_and_back(
    database_url: str, stack: str
) -> None:
    postgresql_only(stack)
    url = make_url(database_url)
    scratch = url.set(database=f"{url.database}_partitions").render_as_string(hide_password=False)
    in_thread(lambda: _create_database_if_missing(scratch))
    in_thread(lambda: _recreate_schema(scratch))
    migrate(scratch, "0037")
    in_thread(lambda: _seed(scratch))
    before = in_thread(lambda: _counts(scratch))

    migrate(scratch, "0038")
    after = in_thread(lambda: _counts(scratch))

    assert before["tracked_events"] == (300, 1)
    for table in partitions.PARTITIONED:
        assert after[f"{table}.partitioned"], table
        assert after[table][0] == before[table][0], table
    assert after["tracked_events"][1] >= 10  # 300 days of rows over ten or eleven months
    assert after["webhook_attempts"][1] >= 8

    migrate(scratch, "0037", down=True)
    back = in_thread(lambda: _counts(scratch))
    assert back == before


async def _ids(url: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('tracked_event_ids')"))
            if exists is None:
                return None
            rows = await connection.execute(text("SELECT org_id, event_id FROM tracked_event_ids"))
            return sorted(tuple(row) for row in rows.all())
    finally:
        await engine.dispose()


def test_the_ids_migration_keeps_the_ids_of_stored_events(database_url: str, stack: str) -> None:
    postgresql_only(stack)
    url = make_url(database_url)
    scratch = url.set(database=f"{url.database}_event_ids").render_as_string(hide_password=False)
    in_thread(lambda: _create_database_if_missing(scratch))
    in_thread(lambda: _recreate_schema(scratch))
    migrate(scratch, "0055")
    in_thread(lambda: _seed(scratch))

    migrate(scratch, "0056")
    kept = in_thread(lambda: _ids(scratch))
    migrate(scratch, "0055", down=True)

    assert kept == sorted(("org_1", f"e{n}") for n in range(1, 301))
    assert in_thread(lambda: _ids(scratch)) is None
