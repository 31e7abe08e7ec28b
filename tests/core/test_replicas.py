"""Read replicas on real parts: a private primary and a streaming hot-standby replica
(``tests/postgres_replica.py``: initdb, ``pg_basebackup -R``), commbase pointed at both.

Analytics reads and lists are served by the replica when it has replayed everything the
primary had committed when the request began; the figures are exact when the replica
lags (replay paused: the primary serves) and when it is down; writes never reach it.
Which server answered is read from the servers themselves: the replica's
``pg_stat_activity`` (the read's ``application_name`` and last statement) and its log.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import func, select

from commbase.analytics import rollup
from commbase.cli import migrate_database
from commbase.core import outbox
from commbase.core.db import DbSession
from commbase.core.events import EventPayload, define
from commbase.core.outbox import OutboxEvent
from commbase.core.replicas import REPLICA_INFO, REPLICA_READS, ReadSession, replicas_for
from tests.conftest import client_for, make_settings
from tests.core.conftest import running_app
from tests.identity.factories import Tenant, make_tenant
from tests.postgres_replica import MissingPostgres, StreamingPair

DATABASE = "commbase"


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    try:
        made = StreamingPair(log_statements=True)
    except MissingPostgres:
        pytest.skip("PostgreSQL's server binaries are not installed")
    try:
        made.start()
        made.create_database(DATABASE)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(migrate_database, made.primary.url(DATABASE)).result()
        made.wait_caught_up()
        yield made
    finally:
        made.destroy()


@pytest.fixture
async def app(pair: StreamingPair) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        pair.primary.url(DATABASE),
        None,
        database_replica_urls=f" {pair.replica.url(DATABASE)} ,",
        database_replica_max_lag_ms=300,
    )
    async with running_app(settings) as application:
        # Skipped replicas are tried again soon, so a test sees it come back quickly.
        application.state.replicas.behind_skip_s = 0.05
        application.state.replicas.down_skip_s = 0.2
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


def reads(served_by: str, reason: str) -> float:
    return float(REPLICA_READS.labels(served_by, reason)._value.get())


async def track(client: httpx.AsyncClient, tenant: Tenant, count: int) -> None:
    response = await client.post(
        "/v1/track/events", json=[{"type": "order.paid"}] * count, headers=tenant.headers
    )
    assert response.status_code in (200, 201, 202), response.text
    assert response.json()["accepted"] == count


async def events_total(client: httpx.AsyncClient, tenant: Tenant) -> int:
    now = datetime.now(UTC)
    response = await client.get(
        "/v1/analytics/series",
        params={
            "metrics": "events.total",
            "interval": "year",
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
            "compare": "false",
        },
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["series"][0]["total"])


def statements(log: str, client: str = "commbase-replica-read") -> list[str]:
    """The statements a server logged (``log_statement = all``) for ``client``."""
    entries = ENTRY.split(log)  # a statement spans several lines: one entry each
    return [entry for entry in entries if f" {client} " in entry and STATEMENT.search(entry)]


ENTRY = re.compile(r"\n(?=\d{4}-\d\d-\d\d )")
STATEMENT = re.compile(r"LOG:  (statement|execute [^:]*): ")
WRITE = re.compile(r"(statement|execute [^:]*): (INSERT|UPDATE|DELETE)|read-only transaction")


async def test_analytics_reads_come_from_the_replica_and_are_exact(
    app: FastAPI, client: httpx.AsyncClient, pair: StreamingPair
) -> None:
    tenant = await make_tenant(app)
    await track(client, tenant, 5)
    served = reads("replica", "caught up")
    on_replica, on_primary = pair.replica.log_size(), pair.primary.log_size()

    assert await events_total(client, tenant) == 5  # written just before: read back

    assert reads("replica", "caught up") == served + 1
    read = statements(pair.replica.log_since(on_replica))
    assert any("tracked_events" in line for line in read), read
    # The primary was asked only where its WAL stands, none of the analytics.
    primary_log = pair.primary.log_since(on_primary)
    assert "pg_current_wal_flush_lsn" in primary_log
    assert "tracked_events" not in primary_log

    # Rollups and a live tail: fold, then facts after the watermark.
    await rollup.fold(app.state.db, now=datetime.now(UTC), lag=timedelta(0))
    await track(client, tenant, 3)
    assert await events_total(client, tenant) == 8
    assert reads("replica", "caught up") == served + 2


async def test_figures_stay_exact_while_the_replica_lags(
    app: FastAPI, client: httpx.AsyncClient, pair: StreamingPair
) -> None:
    tenant = await make_tenant(app)
    await track(client, tenant, 4)
    await rollup.fold(app.state.db, now=datetime.now(UTC), lag=timedelta(0))
    assert await events_total(client, tenant) == 4
    pair.pause_replay()
    try:
        await track(client, tenant, 2)  # the replica has not replayed these
        behind = reads("primary", "replica behind")

        assert await events_total(client, tenant) == 6  # the primary answered

        assert reads("primary", "replica behind") == behind + 1
        stale = pair.replica.psql(
            f"SELECT count(*) FROM tracked_events WHERE org_id = '{tenant.org_id}'",  # noqa: S608
            DATABASE,
        )
        assert stale == "4"  # what the replica alone would have answered
    finally:
        pair.resume_replay()
    pair.wait_caught_up()
    await asyncio.sleep(0.1)  # past the time a replica found behind is skipped
    served = reads("replica", "caught up")
    assert await events_total(client, tenant) == 6
    assert reads("replica", "caught up") == served + 1


async def test_lists_come_from_the_replica_and_writes_never_go_there(
    app: FastAPI, client: httpx.AsyncClient, pair: StreamingPair
) -> None:
    tenant = await make_tenant(app)
    await track(client, tenant, 1)
    today = datetime.now(UTC).date().isoformat()
    made = await client.post(
        "/v1/analytics/snapshots", json={"type": "daily", "date": today}, headers=tenant.headers
    )
    assert made.status_code == 201, made.text  # a write: the primary took it
    served = reads("replica", "caught up")

    listed = await client.get("/v1/analytics/snapshots", headers=tenant.headers)
    exported = await client.get("/v1/analytics/snapshots.csv", headers=tenant.headers)
    calls = await client.get("/v1/calls", headers=tenant.headers)

    assert listed.status_code == 200, listed.text
    assert [s["id"] for s in listed.json()["data"]] == [made.json()["id"]]
    assert exported.status_code == 200, exported.text
    assert len(exported.text.strip().splitlines()) == 2  # header and the snapshot
    assert calls.status_code == 200, calls.text
    assert calls.json()["data"] == []
    assert reads("replica", "caught up") == served + 3
    read = statements(pair.replica.log_since(0))
    assert any("analytics_snapshots" in line for line in read), read
    assert any("FROM calls" in line for line in read), read
    # Writes reached the primary, never the replica (where they would fail, logged).
    assert "INSERT INTO analytics_snapshots" in pair.primary.log_since(0)
    replica_log = pair.replica.log_since(0).splitlines()
    assert not [line for line in replica_log if WRITE.search(line)]


async def test_every_analytics_read_runs_on_the_replica(
    app: FastAPI, client: httpx.AsyncClient, pair: StreamingPair
) -> None:
    """No analytics GET writes through its session (a hot standby would refuse it)."""
    tenant = await make_tenant(app)
    await track(client, tenant, 2)
    paths = [
        "/v1/analytics/dashboard",
        "/v1/analytics/realtime",
        "/v1/analytics/patterns",
        "/v1/analytics/geography",
        "/v1/analytics/quality",
        "/v1/analytics/revenue",
        "/v1/analytics/company",
        f"/v1/analytics/users/{tenant.owner_id}",
        "/v1/analytics/series.csv?metrics=events.total&interval=year",
    ]
    served = reads("replica", "caught up")
    for path in paths:
        response = await client.get(path, headers=tenant.headers)
        assert response.status_code == 200, (path, response.text)
    assert reads("replica", "caught up") == served + len(paths)


async def test_a_replica_that_is_down_leaves_the_reads_to_the_primary(
    app: FastAPI, client: httpx.AsyncClient, pair: StreamingPair
) -> None:
    tenant = await make_tenant(app)
    await track(client, tenant, 3)
    ready = await client.get("/readyz")
    assert ready.json()["checks"]["replica0"].startswith("ok"), ready.text
    pair.replica.stop()
    try:
        down = reads("primary", "replica down")

        assert await events_total(client, tenant) == 3

        assert reads("primary", "replica down") == down + 1
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["replica0"].startswith("error"), ready.text
        await track(client, tenant, 1)  # writes go on
        assert await events_total(client, tenant) == 4
    finally:
        pair.replica.start()
    pair.wait_caught_up()
    await asyncio.sleep(0.25)  # past the time a replica found down is skipped
    served = reads("replica", "caught up")
    assert await events_total(client, tenant) == 4
    assert reads("replica", "caught up") == served + 1


def test_replicas_need_a_postgresql_primary() -> None:
    assert replicas_for([], dialect="sqlite", max_lag_ms=50) is None
    with pytest.raises(ValueError, match="PostgreSQL primary"):
        replicas_for(["postgresql+asyncpg://x@h/d"], dialect="sqlite", max_lag_ms=50)


class Bulk(EventPayload):
    n: int


BULK = define("tests.replicas.bulk", Bulk, "A test event recorded in bulk.")


async def test_a_request_that_wrote_through_the_driver_reads_its_writes_from_the_primary(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A bulk insert sent to the driver directly (``core.driver``: ``outbox.record_many``,
    inbound filing) counts as the request's write, as a statement sent through the
    session does: its later reads see it, where a replica would not."""

    async def write_in_bulk(session: DbSession) -> None:
        await outbox.record_many(session, BULK, [{"n": 1}, {"n": 2}], org_id="org_a")

    @app.get("/test/bulk-then-read", dependencies=[Depends(write_in_bulk)])
    async def bulk_then_read(session: ReadSession) -> dict[str, object]:
        count = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == BULK)
        return {
            "seen": await session.scalar(count),
            "served_by": session.info.get(REPLICA_INFO, "primary"),
        }

    response = await client.get("/test/bulk-then-read")
    assert response.status_code == 200, response.text
    assert response.json() == {"seen": 2, "served_by": "primary"}
