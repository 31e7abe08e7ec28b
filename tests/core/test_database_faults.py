"""The database going away: 503 with Retry-After instead of 500, readiness that says
so, and every Idempotency-Key usable again as soon as its request failed.

An outage is made real without touching the shared server: the app's ``Database``
is pointed at a server that does not answer (a closed port; on SQLite, a file in a
directory that does not exist) and back, or (PostgreSQL) the request's own
connection is terminated by the server.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from commbase.cli import migrate_database
from commbase.core import idempotency
from commbase.core.db import Database, DbSession, Session, make_engine
from commbase.core.idempotency import LOCK_S, IdempotencyKey
from commbase.core.jobs import Job, JobContext, JobRun, run_job
from commbase.core.time import FrozenClock
from commbase.identity.tokens import generate
from commbase.settings import Settings
from tests.conftest import client_for, make_settings
from tests.core.conftest import assert_problem, running_app
from tests.postgres_server import PostgresServer

KEY = {"Idempotency-Key": "order-1"}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def unreachable_url(database_url: str) -> str:
    """A URL of the same kind as ``database_url`` whose server does not answer."""
    if database_url.startswith("sqlite"):
        return "sqlite+aiosqlite:////nonexistent-directory/commbase.db"
    url = make_url(database_url).set(host="127.0.0.1", port=closed_port())
    return url.render_as_string(hide_password=False)


class Outage:
    """Takes a ``Database`` away (pointed at a server that does not answer) and back."""

    def __init__(self, database: Database, unreachable: str) -> None:
        self.database = database
        self.unreachable = unreachable
        self.saved: tuple[AsyncEngine, async_sessionmaker[Session]] | None = None

    def begin(self) -> None:
        assert self.saved is None
        self.saved = (self.database.engine, self.database.sessionmaker)
        self.database.engine = make_engine(self.unreachable)
        self.database.sessionmaker = async_sessionmaker(
            self.database.engine, class_=Session, expire_on_commit=False
        )

    async def end(self) -> None:
        if self.saved is None:
            return
        await self.database.engine.dispose()
        self.database.engine, self.database.sessionmaker = self.saved
        self.saved = None


async def key_states(database_url: str) -> list[str]:
    """The states of the stored Idempotency-Keys, read by another connection."""
    database = Database(database_url)
    try:
        async with database.sessionmaker() as session:
            return list(await session.scalars(select(IdempotencyKey.state)))
    finally:
        await database.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], *, within_s: float = 10) -> None:
    """Wait until ``check`` passes; fail the test if it does not within ``within_s``."""
    for _ in range(int(within_s / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{check.__name__} did not happen within {within_s} s")


@asynccontextmanager
async def order_app(
    settings: Settings, runs: list[int], outage_on: set[int], outage: list[Outage]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with ``POST /test/orders``: it reads the database after its key was
    claimed; on the runs numbered in ``outage_on`` the database goes away first."""
    async with running_app(settings) as app:

        @app.post("/test/orders")
        async def order(request: Request) -> dict[str, int]:
            runs.append(1)
            if len(runs) in outage_on:
                made = Outage(request.app.state.db, unreachable_url(settings.database_url))
                made.begin()
                outage.append(made)
            async with request.app.state.db.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
            return {"run": len(runs)}

        async with client_for(app) as client:
            yield app, client


# ------------------------------------------------------------- 503, readiness


async def test_an_unreachable_database_answers_503_with_retry_after(database_url: str) -> None:
    settings = make_settings(unreachable_url(database_url), None)
    token = {"Authorization": f"Bearer {generate('cb_live_').token}"}
    async with asyncio.timeout(20), running_app(settings) as app, client_for(app) as client:
        read = await client.get("/v1/contacts", headers=token)
        write = await client.post("/v1/contacts", json={"name": "Ada"}, headers=token | KEY)
        again = await client.post("/v1/contacts", json={"name": "Ada"}, headers=token | KEY)
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")

    for response in (read, write, again):
        body = assert_problem(response, 503, "service-unavailable")
        assert response.headers["Retry-After"] == "2"
        assert "database" in str(body["detail"])
    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == "2"
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"].startswith("error: ")
    assert alive.status_code == 200


async def test_errors_about_the_statement_stay_500(settings: Settings) -> None:
    """Only a database that cannot be reached is a 503: a query the database refuses
    is a bug, logged and answered as an internal error."""
    async with running_app(settings) as app:

        @app.get("/test/broken")
        async def broken(session: DbSession) -> dict[str, str]:
            await session.execute(text("SELECT * FROM no_such_table"))
            return {}

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/test/broken")
            ready = await client.get("/readyz")

    assert_problem(response, 500, "internal-error")
    assert "Retry-After" not in response.headers
    assert ready.status_code == 200


# ------------------------------------------------------- keys after a failure


async def test_a_retry_to_the_same_process_runs_once_the_database_is_back(
    settings: Settings,
) -> None:
    runs: list[int] = []
    outage: list[Outage] = []
    async with order_app(settings, runs, {1}, outage) as (_app, client):
        failed = await client.post("/test/orders", json={}, headers=KEY)
        # The failure could not be written: the key's record still says in progress.
        assert await key_states(settings.database_url) == ["in_progress"]
        while_down = await client.post("/test/orders", json={}, headers=KEY)
        await outage[0].end()
        retried = await client.post("/test/orders", json={}, headers=KEY)
        replayed = await client.post("/test/orders", json={}, headers=KEY)

    assert_problem(failed, 503, "service-unavailable")
    assert failed.headers["Retry-After"] == "2"
    # Not 409: this process knows the first attempt failed.
    assert_problem(while_down, 503, "service-unavailable")
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"run": 2}
    assert "Idempotent-Replayed" not in retried.headers
    assert replayed.json() == {"run": 2}
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert len(runs) == 2


async def test_the_failed_process_frees_the_key_for_the_others_when_the_database_is_back(
    settings: Settings,
) -> None:
    runs: list[int] = []
    outage: list[Outage] = []
    async with (
        order_app(settings, runs, {1}, outage) as (_first, first),
        order_app(settings, runs, set(), []) as (_second, second),
    ):
        failed = await first.post("/test/orders", json={}, headers=KEY)
        # The other process cannot tell a failed claim from a running one yet.
        told = await second.post("/test/orders", json={}, headers=KEY)
        await outage[0].end()

        # The first process writes the failure by itself as soon as it can.
        async def freed() -> bool:
            return await key_states(settings.database_url) == []

        await eventually(freed)
        retried = await second.post("/test/orders", json={}, headers=KEY)

    assert_problem(failed, 503, "service-unavailable")
    assert_problem(told, 409, "idempotency-key-in-use")
    assert told.headers["Retry-After"] == "1"
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"run": 2}


async def test_a_claim_nobody_renews_is_taken_over_after_the_lock(
    settings: Settings, clock: FrozenClock
) -> None:
    """The first process never gets the database back (as if it had died): another
    takes the key over once the claim is LOCK_S old, and the first, back later, does
    not undo that."""
    runs: list[int] = []
    outage: list[Outage] = []
    async with (
        order_app(settings, runs, {1}, outage) as (_first, first),
        order_app(settings, runs, set(), []) as (_second, second),
    ):
        failed = await first.post("/test/orders", json={}, headers=KEY)
        clock.advance(LOCK_S - 1)
        held = await second.post("/test/orders", json={}, headers=KEY)
        clock.advance(2)
        taken_over = await second.post("/test/orders", json={}, headers=KEY)
        await outage[0].end()
        from_first = await first.post("/test/orders", json={}, headers=KEY)
        states = await key_states(settings.database_url)

    assert_problem(failed, 503, "service-unavailable")
    assert_problem(held, 409, "idempotency-key-in-use")
    assert taken_over.status_code == 200, taken_over.text
    assert taken_over.json() == {"run": 2}
    assert from_first.headers["Idempotent-Replayed"] == "true"
    assert from_first.json() == {"run": 2}
    assert states == ["completed"]
    assert len(runs) == 2


async def test_a_long_request_renews_its_claim(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "RENEW_S", 0.05)
    started, finish = asyncio.Event(), asyncio.Event()
    runs: list[int] = []
    async with running_app(settings) as app, running_app(settings) as other_app:

        @app.post("/test/slow")
        async def slow() -> dict[str, int]:
            runs.append(1)
            started.set()
            await finish.wait()
            return {"run": len(runs)}

        async with client_for(app) as client, client_for(other_app) as other:
            first = asyncio.create_task(client.post("/test/slow", json={}, headers=KEY))
            await asyncio.wait_for(started.wait(), timeout=5)
            clock.advance(LOCK_S + 1)

            async def renewed() -> bool:
                async with app.state.db.sessionmaker() as session:
                    locked_at = await session.scalar(select(IdempotencyKey.locked_at))
                return bool(locked_at == clock.now())

            await eventually(renewed)
            # Still held by the running request, in whichever process the retry lands.
            concurrent = await other.post("/test/slow", json={}, headers=KEY)
            finish.set()
            done = await first
            replayed = await other.post("/test/slow", json={}, headers=KEY)

    assert_problem(concurrent, 409, "idempotency-key-in-use")
    assert done.status_code == 200
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == {"run": 1}
    assert len(runs) == 1


# ------------------------------------------------- PostgreSQL: connection lost


async def test_a_connection_lost_mid_request_is_a_503_and_frees_the_key(
    settings: Settings, stack: str
) -> None:
    if stack != "postgresql":
        pytest.skip("the server terminating a connection is PostgreSQL's")
    runs: list[int] = []
    async with running_app(settings) as app, running_app(settings) as other_app:

        @app.post("/test/terminated")
        async def terminated(session: DbSession) -> dict[str, int]:
            runs.append(1)
            # The server ends this request's connection, as a restart would.
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return {"run": len(runs)}

        @other_app.post("/test/terminated")
        async def fine(session: DbSession) -> dict[str, int]:
            runs.append(1)
            await session.execute(text("SELECT 1"))
            return {"run": len(runs)}

        async with client_for(app) as client, client_for(other_app) as other:
            lost = await client.post("/test/terminated", json={}, headers=KEY)
            states = await key_states(settings.database_url)
            retried = await other.post("/test/terminated", json={}, headers=KEY)
            after = await client.get("/readyz")

    assert_problem(lost, 503, "service-unavailable")
    assert lost.headers["Retry-After"] == "2"
    assert states == []  # freed at once: any process may run the retry
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"run": 2}
    assert after.status_code == 200  # the pool replaced the lost connection


async def test_pooled_connections_the_server_closed_are_replaced_before_use(
    settings: Settings, stack: str
) -> None:
    """No request fails on a pooled connection that the server ended (as a restart
    does) even when it was used a moment before: checkout asks the driver, with no
    round trip, and replaces it (``core.db.verify_on_checkout``)."""
    if stack != "postgresql":
        pytest.skip("the server terminating a connection is PostgreSQL's")
    async with running_app(settings) as app:

        @app.get("/test/backend")
        async def backend(session: DbSession) -> dict[str, int]:
            return {"pid": int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)}

        async with client_for(app) as client:
            database: Database = app.state.db
            # Three pooled connections, all used just now.
            async with (
                database.engine.connect() as a,
                database.engine.connect() as b,
                database.engine.connect() as c,
            ):
                pids = [await conn.scalar(text("SELECT pg_backend_pid()")) for conn in (a, b, c)]
            other = Database(settings.database_url)
            try:
                async with other.engine.connect() as admin:
                    for pid in pids:
                        await admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            finally:
                await other.dispose()
            await asyncio.sleep(0.2)  # the server's closing reaches the pooled sockets
            answers = [await client.get("/test/backend") for _ in range(4)]

    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert not {a.json()["pid"] for a in answers} & set(pids)


# ------------------------------------------- PostgreSQL: a server of our own stops


@pytest.fixture(scope="module")
def private_postgres(stack: str) -> Iterator[PostgresServer]:
    """A migrated PostgreSQL cluster of this module's own, which its tests may stop."""
    if stack != "postgresql":
        pytest.skip("stopping a server is tested on the PostgreSQL stack")
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="commbase-pg-")))
    try:
        server.start()
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(migrate_database, server.url).result()
        yield server
    finally:
        server.destroy()


async def test_a_server_restart_answers_503_then_serves_and_frees_every_key(
    private_postgres: PostgresServer,
) -> None:
    settings = make_settings(private_postgres.url, None)
    token = {"Authorization": f"Bearer {generate('cb_live_').token}"}
    started = asyncio.Event()
    runs: list[int] = []
    async with running_app(settings) as app, running_app(settings) as other_app:

        @app.post("/test/orders")
        async def order(session: DbSession) -> dict[str, int]:
            runs.append(1)
            if len(runs) == 1:
                started.set()  # this one is in flight when the server stops
                await session.execute(text("SELECT pg_sleep(30)"))
            await session.execute(text("SELECT 1"))
            return {"run": len(runs)}

        async with client_for(app) as client, client_for(other_app) as other:
            assert (await client.get("/readyz")).status_code == 200
            in_flight = asyncio.create_task(client.post("/test/orders", json={}, headers=KEY))
            await asyncio.wait_for(started.wait(), timeout=10)
            await asyncio.to_thread(private_postgres.stop)
            async with asyncio.timeout(30):
                cut_off = await in_flight
                retry_while_down = await client.post("/test/orders", json={}, headers=KEY)
                read_while_down = await other.get("/v1/contacts", headers=token)
                ready_while_down = await client.get("/readyz")
            await asyncio.to_thread(private_postgres.start)

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready)
            retried = await client.post("/test/orders", json={}, headers=KEY)
            replayed = await other.post("/test/orders", json={}, headers=KEY)

    for response in (cut_off, retry_while_down, read_while_down):
        assert_problem(response, 503, "service-unavailable")
        assert response.headers["Retry-After"] == "2"
    assert ready_while_down.status_code == 503
    assert ready_while_down.json()["status"] == "unavailable"
    # Usable again as soon as the server is: no 409 for the request that failed.
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"run": 2}
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == {"run": 2}
    assert len(runs) == 2


async def test_a_job_run_records_its_end_after_a_database_outage(
    private_postgres: PostgresServer,
) -> None:
    """The run's end is written once the server is back, not left "running" forever."""
    database = Database(private_postgres.url)

    async def stops_the_server(ctx: JobContext) -> int:
        await asyncio.to_thread(private_postgres.stop)
        loop = asyncio.get_running_loop()
        loop.call_later(2.0, lambda: loop.run_in_executor(None, private_postgres.start))
        return 7

    try:
        run = await run_job(
            database, Job("test.outage", "* * * * *", stops_the_server, "stops the server")
        )
        async with database.sessionmaker() as session:
            stored = await session.get(JobRun, run.id)
    finally:
        await database.dispose()
    assert stored is not None
    assert (stored.status, stored.rows) == ("succeeded", 7)
    assert stored.finished_at is not None
