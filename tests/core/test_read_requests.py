"""SQLite: GET and HEAD requests read without the write lock (``core.readonly``); a
read request that writes runs again as a writer, and its write is kept once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from commbase.core.db import Database, DbSession
from commbase.core.readonly import ReadRequestMiddleware
from tests.conftest import client_for
from tests.identity.factories import make_tenant


async def test_reads_answer_while_a_writer_holds_the_lock(
    app: FastAPI, client: httpx.AsyncClient, stack: str
) -> None:
    tenant = await make_tenant(app)
    database: Database = app.state.db
    async with database.sessionmaker() as writer:
        # A write transaction left open: on SQLite it holds the write lock.
        await writer.execute(
            text("UPDATE organizations SET name = name WHERE id = :id"), {"id": tenant.org_id}
        )
        me = await asyncio.wait_for(client.get("/v1/me", headers=tenant.headers), timeout=5)
        assert me.status_code == 200
        assert me.json()["organization"]["id"] == tenant.org_id
        listed = await asyncio.wait_for(client.get("/v1/contacts", headers=tenant.headers), 5)
        assert listed.status_code == 200
        if stack == "sqlite":
            # A write queues behind the open one (and is served once it ends).
            create = asyncio.create_task(
                client.post("/v1/contacts", json={"name": "Queued"}, headers=tenant.headers)
            )
            await asyncio.sleep(0.3)
            assert not create.done()
        await writer.commit()
    if stack == "sqlite":
        assert (await asyncio.wait_for(create, 15)).status_code == 201


def _counting_app(database: Database) -> tuple[FastAPI, dict[str, int]]:
    calls = {"handler": 0}
    app = FastAPI()
    app.state.db = database

    @app.get("/visits/{name}")
    async def visit(name: str, session: DbSession) -> dict[str, int]:
        calls["handler"] += 1
        seen = int(await session.scalar(text("SELECT count(*) FROM visits")) or 0)
        await session.execute(text("INSERT INTO visits (name) VALUES (:name)"), {"name": name})
        return {"before": seen}

    @app.get("/visits")
    async def count(session: DbSession) -> dict[str, int]:
        calls["handler"] += 1
        return {"count": int(await session.scalar(text("SELECT count(*) FROM visits")) or 0)}

    app.add_middleware(ReadRequestMiddleware)
    return app, calls


async def test_a_read_request_that_writes_runs_again_as_a_writer(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'visits.db'}")
    try:
        async with database.sessionmaker() as session:
            await session.execute(text("CREATE TABLE visits (name TEXT NOT NULL)"))
            await session.commit()
        app, calls = _counting_app(database)
        async with client_for(app) as client:
            first = await client.get("/visits/a")
            assert (first.status_code, first.json()) == (200, {"before": 0})
            # Refused at its first write, then run again: the write is there once.
            assert calls["handler"] == 2
            second = await client.get("/visits/b")
            assert (second.status_code, second.json()) == (200, {"before": 1})
            # The route is known to write now: one pass.
            assert calls["handler"] == 3
            counted = await client.get("/visits")
            assert counted.json() == {"count": 2}
            assert calls["handler"] == 4
    finally:
        await database.dispose()


async def test_reads_answer_while_writers_waiting_for_the_lock_hold_their_connections(
    app: FastAPI, client: httpx.AsyncClient, stack: str
) -> None:
    """SQLite: read requests take connections of their own. Writers waiting for the
    write lock (``BEGIN IMMEDIATE`` on busy_timeout) hold every pooled connection of
    the writers' engine meanwhile; a read must not wait for one of those."""
    if stack != "sqlite":
        return
    tenant = await make_tenant(app)
    assert (await client.get("/v1/me", headers=tenant.headers)).status_code == 200
    database: Database = app.state.db
    async with database.sessionmaker() as holder:
        await holder.execute(
            text("UPDATE organizations SET name = name WHERE id = :id"), {"id": tenant.org_id}
        )
        creates = [
            asyncio.create_task(
                client.post("/v1/contacts", json={"name": f"Queued {n}"}, headers=tenant.headers)
            )
            for n in range(20)  # more than the writers' pool holds (5 + 10 overflow)
        ]
        await asyncio.sleep(0.5)
        assert not any(create.done() for create in creates)
        me = await asyncio.wait_for(client.get("/v1/me", headers=tenant.headers), timeout=3)
        assert me.status_code == 200
        assert me.json()["organization"]["id"] == tenant.org_id
        await holder.commit()
    answered = await asyncio.wait_for(asyncio.gather(*creates), 60)
    assert [r.status_code for r in answered] == [201] * 20
