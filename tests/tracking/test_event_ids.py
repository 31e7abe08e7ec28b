"""PostgreSQL's ledger of client-chosen event ids (``tracked_event_ids``) under stress:
batches naming the same ids in other orders, and an event stored without its id's row."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from structlog.testing import capture_logs

from commbase.core.driver import Driver
from commbase.core.time import FrozenClock, use_clock
from commbase.tracking.copying import _NEW_IDS
from tests.identity.factories import make_tenant

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(NOW)
    with use_clock(frozen):
        yield frozen


async def test_batches_naming_shared_ids_in_other_orders_do_not_deadlock(
    app: FastAPI, stack: str
) -> None:
    """Batch 1 names [a, z, b] while z is held by an open batch 0; batch 2 names [b, a].
    Inserted in the order given, batch 1 held a and waited for z, batch 2 held b and
    waited for a; when batch 0 ended, batch 1 waited for b: a deadlock, one of them a
    500. Inserted in one order, batch 2 waits for batch 1 and finds both stored."""
    if stack != "postgresql":
        pytest.skip("the ids' ledger is PostgreSQL's")
    tenant = await make_tenant(app)
    engine = app.state.db.engine
    async with engine.connect() as c0, engine.connect() as c1, engine.connect() as c2:
        raw: list[Any] = [(await c.get_raw_connection()).driver_connection for c in (c0, c1, c2)]
        for connection in raw:
            await connection.execute("BEGIN")
        await raw[0].fetch(_NEW_IDS, tenant.org_id, ["z"])
        first = asyncio.create_task(raw[1].fetch(_NEW_IDS, tenant.org_id, ["a", "z", "b"]))
        await asyncio.sleep(0.3)
        second = asyncio.create_task(raw[2].fetch(_NEW_IDS, tenant.org_id, ["b", "a"]))
        await asyncio.sleep(0.3)
        await raw[0].execute("ROLLBACK")
        new_in_first = await asyncio.wait_for(first, timeout=10)
        await raw[1].execute("COMMIT")
        new_in_second = await asyncio.wait_for(second, timeout=10)
        await raw[2].execute("COMMIT")
    assert sorted(record[0] for record in new_in_first) == ["a", "b", "z"]
    assert new_in_second == []


async def test_the_replay_of_an_event_stored_without_its_id_row_is_a_duplicate(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    """An event stored without its ``tracked_event_ids`` row (by a process of the release
    before that table, still running after the migration): its exact replay was a 500 on
    every retry (COPY met the stored row); it is a duplicate."""
    if stack != "postgresql":
        pytest.skip("the ids' ledger is PostgreSQL's")
    tenant = await make_tenant(app)
    sent = [
        {"id": "k-1", "type": "signup", "timestamp": "2026-11-20T09:00:00Z"},
        {"id": "k-2", "type": "signup", "timestamp": "2026-11-20T09:01:00Z"},
    ]
    first = await client.post("/v1/track/events", json=sent[:1], headers=tenant.headers)
    assert first.json()["accepted"] == 1
    async with app.state.db.engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM tracked_event_ids WHERE org_id = :org"), {"org": tenant.org_id}
        )
    again = await client.post("/v1/track/events", json=sent, headers=tenant.headers)
    assert again.status_code == 200, again.text
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 1)
    async with app.state.db.engine.connect() as connection:
        stored = await connection.scalars(
            text("SELECT event_id FROM tracked_events WHERE org_id = :org ORDER BY event_id"),
            {"org": tenant.org_id},
        )
        assert list(stored) == ["k-1", "k-2"]


async def test_a_replayed_batch_answers_as_duplicates_and_logs_no_error(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    stack: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch sent again (its answer lost), whole or with an event added, answers as
    duplicates with no ERROR logged: none by commbase, and no statement failing on
    PostgreSQL, whose log had an ERROR for each replay (the plain insert of the batch's
    ids met the stored ones, a unique violation undone by the savepoint)."""
    failed: list[Exception] = []
    guarded = Driver._guarded

    def recording(driver: Driver, method: Any) -> Any:
        call = guarded(driver, method)

        async def failing(*args: Any, **kwargs: Any) -> Any:
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                failed.append(exc)
                raise

        return failing

    monkeypatch.setattr(Driver, "_guarded", recording)
    tenant = await make_tenant(app)
    sent = [
        {"id": f"r-{n}", "type": "signup", "timestamp": f"2026-11-20T09:0{n}:00Z"} for n in range(4)
    ]
    answers = []
    with caplog.at_level(logging.DEBUG), capture_logs() as logged:
        for batch in (sent[:3], sent[:3], sent):
            answer = await client.post("/v1/track/events", json=batch, headers=tenant.headers)
            assert answer.status_code == 200, answer.text
            answers.append((answer.json()["accepted"], answer.json()["duplicates"]))
    assert answers == [(3, 0), (0, 3), (1, 3)]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [e for e in logged if e.get("log_level") in ("error", "critical")] == []
    assert failed == []
    # An id stored inside a batch of new ones still finds its way, by the savepoint.
    middle = [{**sent[0], "id": "r-new-a"}, sent[1], {**sent[0], "id": "r-new-b"}]
    answer = await client.post("/v1/track/events", json=middle, headers=tenant.headers)
    assert (answer.json()["accepted"], answer.json()["duplicates"]) == (2, 1)


_WAITING_ON_IDS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND wait_event_type = 'Lock' AND query ILIKE '%tracked_event_ids%'
"""


@pytest.mark.parametrize("holder_commits", [True, False])
async def test_a_batch_meeting_an_id_another_batch_holds_waits_for_its_outcome(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str, holder_commits: bool
) -> None:
    """A batch whose ids are all new inserts them plainly; one held by an open batch
    makes it wait, and when that batch commits, the id is a duplicate (the plain insert
    fails and the batch's ids go in again with ``ON CONFLICT``); when it rolls back, the
    whole batch is stored."""
    if stack != "postgresql":
        pytest.skip("the ids' ledger is PostgreSQL's")
    tenant = await make_tenant(app)
    sent = [
        {"id": name, "type": "signup", "timestamp": "2026-11-20T09:00:00Z"}
        for name in ("h-a", "h-z", "h-b")
    ]
    async with app.state.db.engine.connect() as holder:
        raw: Any = (await holder.get_raw_connection()).driver_connection
        await raw.execute("BEGIN")
        await raw.fetch(_NEW_IDS, tenant.org_id, ["h-z"])
        posted = asyncio.create_task(
            client.post("/v1/track/events", json=sent, headers=tenant.headers)
        )
        # The batch waits on h-z's key: a backend of this database waits for a lock
        # while inserting into the ids' table (and the request has not answered).
        waiting = 0
        for _ in range(200):
            await raw.execute("SELECT pg_stat_clear_snapshot()")  # read afresh in the txn
            waiting = await raw.fetchval(_WAITING_ON_IDS)
            if waiting or posted.done():
                break
            await asyncio.sleep(0.05)
        assert waiting == 1
        assert not posted.done()
        await raw.execute("COMMIT" if holder_commits else "ROLLBACK")
        answer = await asyncio.wait_for(posted, timeout=10)
    assert answer.status_code == 200, answer.text
    expected = (2, 1) if holder_commits else (3, 0)
    assert (answer.json()["accepted"], answer.json()["duplicates"]) == expected
    async with app.state.db.engine.connect() as connection:
        stored = await connection.scalars(
            text("SELECT event_id FROM tracked_events WHERE org_id = :org ORDER BY event_id"),
            {"org": tenant.org_id},
        )
        ids = await connection.scalars(
            text("SELECT event_id FROM tracked_event_ids WHERE org_id = :org ORDER BY event_id"),
            {"org": tenant.org_id},
        )
        assert list(stored) == (["h-a", "h-b"] if holder_commits else ["h-a", "h-b", "h-z"])
        assert list(ids) == ["h-a", "h-b", "h-z"]
