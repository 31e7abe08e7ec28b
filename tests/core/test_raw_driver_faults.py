"""Statements sent to the database driver directly (``core.driver.driver_of``: bulk
inserts that skip SQLAlchemy's parameter handling) meet a lost connection as every
other statement does: workers wait the outage out, requests answer a 503 problem and
roll back as usual."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import errors, outbox
from commbase.core.db import (
    Database,
    DbSession,
    after_rollback,
    database_unavailable,
    retry_while_unavailable,
)
from commbase.core.driver import driver_of, pooled
from commbase.core.events import EventPayload, define
from commbase.core.outbox import OutboxEvent
from commbase.settings import Settings
from tests.conftest import client_for
from tests.core.conftest import assert_problem, running_app


class Bulk(EventPayload):
    n: int


BULK = define("tests.driver.bulk", Bulk, "A test event recorded in bulk.")


@pytest.fixture(autouse=True)
def postgresql_only(stack: str) -> None:
    if stack != "postgresql":
        pytest.skip("the server ending a connection is PostgreSQL's; SQLite has no driver path")


async def terminate(database_url: str, pid: int) -> None:
    """End backend ``pid`` from another connection, as a server restart does, and wait
    until it is gone."""
    admin = Database(database_url)
    try:
        async with admin.engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            for _ in range(250):
                gone = await connection.scalar(
                    text("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = :p)"),
                    {"p": pid},
                )
                await connection.rollback()
                if gone:
                    await asyncio.sleep(0.05)  # the closing reaches the client's socket
                    return
                await asyncio.sleep(0.02)
        pytest.fail(f"backend {pid} did not end")
    finally:
        await admin.dispose()


async def backend_pid(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def stored_events(database: Database) -> int:
    async with database.sessionmaker() as session:
        count = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == BULK)
        return int(await session.scalar(count) or 0)


async def test_a_worker_waits_out_a_connection_lost_before_its_bulk_insert(
    database: Database, database_url: str
) -> None:
    """Campaign outcomes, inbound filing: a unit of work written with a bulk statement
    whose connection the server ended (a restart) sees the error any other statement
    would raise then: the session rolls back cleanly, the error says the database is
    unavailable (so the work waits the outage out instead of counting a failure), and
    the next attempt, on a new connection, stores the batch."""
    attempts: list[bool] = []

    async def file_batch() -> None:
        async with database.sessionmaker() as session:
            pid = await backend_pid(session)
            if not attempts:
                await terminate(database_url, pid)
            try:
                await outbox.record_many(session, BULK, [{"n": 1}, {"n": 2}], org_id="org_a")
                await session.commit()
            except Exception as exc:
                # As the WhatsApp intake does: roll back, then decide what the error means.
                await session.rollback()
                attempts.append(database_unavailable(exc))
                raise
            attempts.append(True)

    await retry_while_unavailable(file_batch, for_s=10, what="test batch")
    assert attempts == [True, True]
    assert await stored_events(database) == 2


@pytest.mark.parametrize("when", ["before", "during"])
async def test_a_request_whose_connection_is_lost_under_a_bulk_statement_answers_503(
    settings: Settings, when: str
) -> None:
    """Lost before the statement went (the connection already closed) or while it ran:
    503 with Retry-After, the request's after-rollback work done (here: what a stored
    file's removal would be), and the next request served by a new connection."""
    rolled_back: list[str] = []
    async with running_app(settings) as app:

        @app.post("/test/bulk")
        async def bulk(session: DbSession) -> dict[str, int]:
            pid = await backend_pid(session)

            async def undo() -> None:
                rolled_back.append(when)

            after_rollback(session, undo)
            if when == "before":
                await terminate(settings.database_url, pid)
                await outbox.record_many(session, BULK, [{"n": 1}, {"n": 2}], org_id="org_a")
            else:
                driver = await driver_of(session)
                sleeping = asyncio.create_task(driver.execute("SELECT pg_sleep(10)"))
                await asyncio.sleep(0.1)
                await terminate(settings.database_url, pid)
                await sleeping
            return {"stored": 2}

        async with client_for(app) as client:
            lost = await client.post("/test/bulk", json={})
            after = await client.get("/readyz")

    assert_problem(lost, 503, "service-unavailable")
    assert lost.headers["Retry-After"] == "2"
    assert rolled_back == [when]
    assert after.status_code == 200
    assert await stored_events(app.state.db) == 0


async def test_a_read_request_that_writes_through_the_driver_writes_in_a_transaction(
    settings: Settings,
) -> None:
    """A GET route's read-only first pass runs in autocommit (``core.readonly``), where a
    statement sent to the driver would commit alone: it is refused like any write, and
    the request runs again as a writer, whose failure rolls the bulk insert back."""
    async with running_app(settings) as app:

        @app.get("/test/bulk-then-fail")
        async def bulk_then_fail(session: DbSession) -> dict[str, int]:
            await outbox.record_many(session, BULK, [{"n": 1}, {"n": 2}], org_id="org_a")
            raise errors.Conflict("refused after the bulk insert")

        async with client_for(app) as client:
            refused = await client.get("/test/bulk-then-fail")

    assert_problem(refused, 409, "conflict")
    assert await stored_events(app.state.db) == 0


async def test_a_statement_on_a_pooled_driver_meets_a_lost_connection_as_any_statement(
    database: Database, database_url: str
) -> None:
    """The dial's one-statement steps (``core.driver.pooled``, outside any session): the
    server ending the connection under a statement raises SQLAlchemy's
    ``OperationalError``, which says the database is unavailable, with the connection
    invalidated; the pool's next connection works."""
    async with pooled(database.engine) as driver:
        lost = await driver.fetchval("SELECT pg_backend_pid()")
        await terminate(database_url, lost)
        with pytest.raises(sa_exc.OperationalError) as raised:
            await driver.fetchval("SELECT 1")
    assert raised.value.connection_invalidated
    assert database_unavailable(raised.value)
    for _ in range(3):  # whichever connections come next
        async with pooled(database.engine) as driver:
            assert await driver.fetchval("SELECT pg_backend_pid()") != lost


async def test_a_pooled_driver_refused_its_connection_says_the_database_is_unavailable(
    database_url: str,
) -> None:
    """No server where the URL points (a closed port): checking a connection out for
    ``pooled`` raises SQLAlchemy's error for it, which says the database is unavailable,
    as a session's first statement would."""
    closed_port = database_url.replace(":5432/", ":1/")
    assert closed_port != database_url
    nowhere = Database(closed_port)
    try:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            async with pooled(nowhere.engine):
                pass
        assert database_unavailable(raised.value)
    finally:
        await nowhere.dispose()


async def test_a_pooled_driver_cancelled_mid_statement_is_not_lent_out_again(
    database: Database,
) -> None:
    """A statement cancelled while PostgreSQL runs it (a worker stopping, a timeout):
    the connection, which may still be busy, is invalidated, and the next one works."""
    busy_pid: list[int] = []
    sleeping = asyncio.Event()

    async def sleep_on_it() -> None:
        async with pooled(database.engine) as driver:
            busy_pid.append(await driver.fetchval("SELECT pg_backend_pid()"))
            sleeping.set()
            await driver.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(sleep_on_it())
    await sleeping.wait()
    await asyncio.sleep(0.1)  # the sleep has reached PostgreSQL
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(3):  # whichever connections come next
        async with pooled(database.engine) as driver:
            assert await driver.fetchval("SELECT pg_backend_pid()") != busy_pid[0]
            assert await driver.fetchval("SELECT 1") == 1
