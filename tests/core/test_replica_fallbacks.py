"""Read replicas that cannot serve, without a streaming pair: a replica URL that names
the primary itself (a server not in recovery) and a replica whose pool is exhausted.
PostgreSQL only (replicas are refused on SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import QueuePool

from commbase.core.replicas import REPLICA_POOL_TIMEOUT_S, Replicas
from tests.conftest import PG_URL, client_for, make_settings
from tests.core.conftest import running_app

pytestmark = pytest.mark.skipif(PG_URL is None, reason="needs COMMBASE_TEST_DATABASE_URL")


@pytest.fixture
async def app(postgres_migrated: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(postgres_migrated, None, database_replica_urls=postgres_migrated)
    async with running_app(settings) as application:
        yield application


async def test_a_server_that_is_not_a_replica_is_reported_so_and_not_read_from(
    app: FastAPI,
) -> None:
    async with client_for(app) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["replica0"] == "not a replica (pg_is_in_recovery() is false)"
    replicas: Replicas = app.state.replicas
    async with app.state.db.sessionmaker() as primary:
        choice = await replicas.choose(primary)
    assert (choice.replica, choice.reason) == (None, "replica behind")


async def test_an_exhausted_replica_pool_leaves_the_read_to_the_primary(
    app: FastAPI, postgres_migrated: str
) -> None:
    replicas: Replicas = app.state.replicas
    replica = replicas.replicas[0]
    pool = replica.engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.timeout() == REPLICA_POOL_TIMEOUT_S == 0.5
    # The same pool timeout on a pool of one connection, held by someone else.
    small = create_async_engine(
        postgres_migrated, pool_size=1, max_overflow=0, pool_timeout=REPLICA_POOL_TIMEOUT_S
    )
    replica.engine = small
    try:
        async with small.connect(), app.state.db.sessionmaker() as primary:
            choice = await replicas.choose(primary)
        assert (choice.replica, choice.reason) == (None, "replica busy")
        assert replica.state == "busy"
    finally:
        await small.dispose()
