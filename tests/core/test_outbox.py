"""The transactional outbox: events exist exactly when their change committed, and
every event reaches every consumer even when workers die or race."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.events import EventPayload, UndeclaredEvent, define
from commbase.core.time import FrozenClock
from tests.identity.factories import make_tenant

CONSUMER = "tests.consumer"
OTHER = "tests.other-consumer"


class ThingHappened(EventPayload):
    n: int


THING_HAPPENED = define("thing.happened", ThingHappened, "A test event.")
OTHER_THING = define("tests.other", ThingHappened, "Another test event.")


@pytest.fixture(autouse=True)
def consumers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only this module's consumers, for this test only."""
    monkeypatch.setattr(outbox, "_consumers", {})
    outbox.register_consumer(CONSUMER)
    outbox.register_consumer(OTHER)


async def record_events(database: Database, count: int, *, org_id: str = "org_a") -> list[str]:
    async with database.sessionmaker() as session:
        ids = []
        for n in range(count):
            event = await outbox.record(session, "thing.happened", {"n": n}, org_id=org_id)
            ids.append(event.id)
        await session.commit()
    return ids


async def claim(
    database: Database, worker: str, *, limit: int = 100, lease_s: float = 60
) -> list[outbox.ClaimedEvent]:
    async with database.sessionmaker() as session:
        claimed = await outbox.claim(
            session, consumer=CONSUMER, worker_id=worker, limit=limit, lease_s=lease_s
        )
        await session.commit()
    return claimed


async def pending(database: Database, consumer: str = CONSUMER) -> int:
    async with database.sessionmaker() as session:
        return await outbox.pending_count(session, consumer=consumer)


async def test_rolled_back_change_leaves_no_event(database: Database) -> None:
    async with database.sessionmaker() as session:
        await outbox.record(session, "thing.happened", {"n": 1}, org_id="org_a")
        await session.rollback()

    async with database.sessionmaker() as session:
        events = await session.scalar(select(func.count()).select_from(outbox.OutboxEvent))
        deliveries = await session.scalar(select(func.count()).select_from(outbox.OutboxDelivery))
    assert (events, deliveries) == (0, 0)
    assert await claim(database, "w1") == []


async def test_committed_event_is_queued_for_every_consumer(
    database: Database, clock: FrozenClock
) -> None:
    [event_id] = await record_events(database, 1)

    assert await pending(database, CONSUMER) == 1
    assert await pending(database, OTHER) == 1
    [claimed] = await claim(database, "w1")
    assert claimed.event_id == event_id
    assert (claimed.org_id, claimed.type, claimed.payload) == ("org_a", "thing.happened", {"n": 0})
    assert claimed.created_at == clock.now()
    assert claimed.attempts == 1


async def test_a_batch_is_recorded_like_single_events(database: Database) -> None:
    async with database.sessionmaker() as session:
        await outbox.record_many(session, "thing.happened", [{"n": 1}, {"n": 2}], org_id="org_a")
        await session.rollback()
    assert await pending(database) == 0  # nothing of a rolled-back batch
    with pytest.raises(UndeclaredEvent):
        async with database.sessionmaker() as session:
            await outbox.record_many(session, "thing.unknown", [{"n": 1}], org_id="org_a")

    async with database.sessionmaker() as session:
        await outbox.record_many(session, "thing.happened", [{"n": 1}, {"n": 2}], org_id="org_a")
        await session.commit()

    assert (await pending(database, CONSUMER), await pending(database, OTHER)) == (2, 2)
    claimed = await claim(database, "w1")
    assert [(c.org_id, c.type, c.payload) for c in claimed] == [
        ("org_a", "thing.happened", {"n": 1}),
        ("org_a", "thing.happened", {"n": 2}),
    ]


async def test_consumer_registered_later_gets_later_events_only(database: Database) -> None:
    await record_events(database, 1)
    late = outbox.register_consumer("tests.late-consumer")
    assert late in outbox.consumers()
    await record_events(database, 2)

    assert await pending(database, late) == 2
    assert await pending(database, CONSUMER) == 3


async def test_claim_order_limit_and_complete(database: Database) -> None:
    ids = await record_events(database, 5)

    first = await claim(database, "w1", limit=3)
    second = await claim(database, "w1", limit=3)
    assert [c.event_id for c in first] == ids[:3]
    assert [c.event_id for c in second] == ids[3:]

    async with database.sessionmaker() as session:
        done = await outbox.complete(
            session, delivery_ids=[c.delivery_id for c in first + second], worker_id="w1"
        )
        await session.commit()
    assert done == 5
    assert await pending(database) == 0
    # The other consumer's copies are untouched.
    assert await pending(database, OTHER) == 5
    async with database.sessionmaker() as session:
        # Completed deliveries are deleted; the events stay.
        left = (await session.scalars(select(outbox.OutboxDelivery.consumer))).all()
        events = await session.scalar(select(func.count()).select_from(outbox.OutboxEvent))
    assert (left, events) == ([OTHER] * 5, 5)


async def test_claimed_event_is_hidden_until_its_lease_expires(
    database: Database, clock: FrozenClock
) -> None:
    [event_id] = await record_events(database, 1)
    [claimed] = await claim(database, "w1", lease_s=60)

    clock.advance(59)
    assert await claim(database, "w2") == []

    # w1 died without completing; once its lease is over, w2 gets the event.
    clock.advance(2)
    [retaken] = await claim(database, "w2")
    assert retaken.event_id == event_id
    assert retaken.delivery_id == claimed.delivery_id
    assert retaken.attempts == 2

    async with database.sessionmaker() as session:
        # w1 comes back too late: it no longer holds the event.
        assert (
            await outbox.complete(session, delivery_ids=[claimed.delivery_id], worker_id="w1") == 0
        )
        assert (
            await outbox.complete(session, delivery_ids=[retaken.delivery_id], worker_id="w2") == 1
        )
        await session.commit()
    assert await pending(database) == 0

    clock.advance(3600)
    assert await claim(database, "w3") == []


async def test_released_event_is_claimable_again(database: Database, clock: FrozenClock) -> None:
    [event_id] = await record_events(database, 1)
    [claimed] = await claim(database, "w1")

    async with database.sessionmaker() as session:
        await outbox.release(session, delivery_ids=[claimed.delivery_id], worker_id="w1")
        await session.commit()

    [again] = await claim(database, "w2")
    assert again.event_id == event_id
    assert again.attempts == 2


async def test_release_with_retry_time_and_error(database: Database, clock: FrozenClock) -> None:
    await record_events(database, 1)
    [claimed] = await claim(database, "w1")

    async with database.sessionmaker() as session:
        # Another worker cannot give back what it does not hold.
        await outbox.release(
            session, delivery_ids=[claimed.delivery_id], worker_id="w2", error="not mine"
        )
        await outbox.release(
            session,
            delivery_ids=[claimed.delivery_id],
            worker_id="w1",
            retry_at=clock.now() + timedelta(seconds=300),
            error="receiver answered 503",
        )
        await session.commit()
        delivery = await session.get(outbox.OutboxDelivery, claimed.delivery_id)
        assert delivery is not None
        assert delivery.last_error == "receiver answered 503"
        assert delivery.claimed_by is None

    clock.advance(299)
    assert await claim(database, "w2") == []
    clock.advance(1)
    assert len(await claim(database, "w2")) == 1


async def test_renew_and_give_up_touch_only_what_the_worker_holds(
    database: Database, clock: FrozenClock
) -> None:
    """Renewing or giving up a list of ids changes only the deliveries this worker
    holds; on PostgreSQL each statement has one text whatever the list's length."""
    await record_events(database, 3)
    first, *rest = await claim(database, "w1", lease_s=60)
    ids = [first.delivery_id] + [c.delivery_id for c in rest]
    sent: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with database.sessionmaker() as session:
            renew, complete = outbox.renew, outbox.complete
            assert await renew(session, delivery_ids=ids[:1], worker_id="w1", lease_s=600) == 1
            assert await renew(session, delivery_ids=ids, worker_id="w2", lease_s=600) == 0
            assert await renew(session, delivery_ids=ids, worker_id="w1", lease_s=600) == 3
            assert await complete(session, delivery_ids=ids[1:], worker_id="w1", error="x") == 2
            await session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    clock.advance(61)
    assert await claim(database, "w2") == []  # still leased by the renewal
    clock.advance(540)
    [retaken] = await claim(database, "w2")
    assert retaken.delivery_id == first.delivery_id  # the two given up stay done
    assert await pending(database) == 1
    if database.dialect == "postgresql":
        renewals = [s for s in sent if s.startswith("UPDATE") and "last_error" not in s]
        assert len(renewals) == 3, renewals
        assert len(set(renewals)) == 1, renewals  # one text for 1 id and for 3


async def test_a_backlog_waiting_for_retries_costs_a_claim_nothing(
    database: Database, clock: FrozenClock
) -> None:
    """Deliveries backing off before a retry (a carrier down for an hour) sort after
    the due ones: a claim takes the due ones without reading the backlog."""
    await record_events(database, 300)
    backlog = await claim(database, "w1", limit=300)
    async with database.sessionmaker() as session:
        await outbox.release(
            session,
            delivery_ids=[c.delivery_id for c in backlog],
            worker_id="w1",
            retry_at=clock.now() + timedelta(hours=1),
        )
        await session.commit()
    due = await record_events(database, 3)

    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert [c.event_id for c in await claim(database, "w2", limit=3)] == due
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, params = next((s, p) for s, p in sent if "FROM outbox_deliveries" in s)
    async with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            # The test table is tiny, where a scan is cheapest: ask how the index
            # serves the claim (rolled back: EXPLAIN ANALYZE runs the lease).
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = await connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, COSTS OFF) " + statement, params
            )
            plan = "\n".join(str(row[0]) for row in rows)
            await connection.rollback()
            assert "ix_outbox_deliveries_pending" in plan, plan
            assert "Rows Removed by Filter" not in plan, plan  # no backlog row read
        else:
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "ix_outbox_deliveries_pending (consumer=? AND available_at<?)" in plan, plan


async def test_two_concurrent_workers_never_share_a_delivery(database: Database) -> None:
    ids = await record_events(database, 40)

    first, second = await asyncio.gather(
        claim(database, "w1", limit=25), claim(database, "w2", limit=25)
    )

    first_ids = {c.delivery_id for c in first}
    second_ids = {c.delivery_id for c in second}
    assert not first_ids & second_ids
    assert sorted(c.event_id for c in first + second) == sorted(ids)


async def test_claimers_skip_rows_locked_by_an_open_transaction(database: Database) -> None:
    """Both workers hold their claims in open transactions at the same moment; with
    ``FOR UPDATE SKIP LOCKED`` neither waits for the other and none is shared."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time; row locks are PostgreSQL's")
    ids = await record_events(database, 30)
    both_claimed = asyncio.Barrier(2)

    async def worker(name: str) -> list[outbox.ClaimedEvent]:
        async with database.sessionmaker() as session:
            claimed = await outbox.claim(session, consumer=CONSUMER, worker_id=name, limit=20)
            await both_claimed.wait()  # the other claims while this lock is held
            await session.commit()
        return claimed

    first, second = await asyncio.wait_for(asyncio.gather(worker("w1"), worker("w2")), 30)

    assert first
    assert second
    assert not {c.delivery_id for c in first} & {c.delivery_id for c in second}
    assert sorted(c.event_id for c in first + second) == sorted(ids)


async def test_domain_change_records_its_event(app: FastAPI, client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(app)
    database: Database = app.state.db

    created = await client.post(
        "/v1/agent-sessions", json={"agent_context": {"agent_id": "bot"}}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    refused = await client.post(
        "/v1/agent-sessions",
        json={
            "session_type": "authenticated",
            "user_id": "usr_missing",
            "agent_context": {"agent_id": "bot"},
        },
        headers=tenant.headers,
    )
    assert refused.status_code == 404

    events = [e for e in await claim(database, "w1") if e.type.startswith("agent_session.")]
    [event] = events
    assert event.type == "agent_session.created"
    assert event.org_id == tenant.org_id
    assert event.payload["id"] == created.json()["id"]


async def test_undeclared_events_and_bad_payloads_are_refused(app: FastAPI) -> None:
    async with app.state.db.sessionmaker() as session:
        with pytest.raises(UndeclaredEvent):
            await outbox.record(session, "thing.unheard_of", {}, org_id="org_a")
        with pytest.raises(UndeclaredEvent):
            await outbox.record(session, THING_HAPPENED, {"n": "many"}, org_id="org_a")
        with pytest.raises(UndeclaredEvent):
            await outbox.record(session, THING_HAPPENED, {"n": 1, "extra": 2}, org_id="org_a")


async def test_events_of_several_types_are_recorded_in_one_go_like_single_events(
    database: Database, clock: FrozenClock
) -> None:
    only_things = outbox.register_consumer("tests.things-only", event_types=["thing.happened"])
    first_at = clock.now()
    later = first_at + timedelta(seconds=3)
    items = [("thing.happened", {"n": 1}, first_at), (OTHER_THING, {"n": 2}, later)]
    async with database.sessionmaker() as session:
        await outbox.record_events(session, items, org_id="org_a")
        await session.rollback()
    assert await pending(database) == 0  # nothing of a rolled-back batch
    with pytest.raises(UndeclaredEvent):
        async with database.sessionmaker() as session:
            await outbox.record_events(session, [("thing.unknown", {}, first_at)], org_id="o")

    async with database.sessionmaker() as session:
        await outbox.record_events(session, [], org_id="org_a")
        await outbox.record_events(
            session, [*items, ("thing.happened", {"n": 3}, later)], org_id="org_a"
        )
        await session.commit()

    assert await pending(database, only_things) == 2
    clock.advance(3)  # each event's deliveries are available from its own time
    claimed = await claim(database, "w1")
    assert [(c.org_id, c.type, c.payload, c.created_at) for c in claimed] == [
        ("org_a", "thing.happened", {"n": 1}, first_at),
        ("org_a", OTHER_THING, {"n": 2}, later),
        ("org_a", "thing.happened", {"n": 3}, later),
    ]


async def test_a_consumer_registered_later_hears_the_events_recorded_after_it(
    database: Database,
) -> None:
    """Each type's consumers are worked out once, and again after a registration."""
    await record_events(database, 1)
    late = outbox.register_consumer("tests.late", event_types=["thing.*"])
    await record_events(database, 2)
    assert await pending(database, late) == 2
    assert await pending(database, CONSUMER) == 3


async def test_events_at_a_naive_time_are_refused_and_nothing_is_recorded(
    database: Database, clock: FrozenClock
) -> None:
    """``record_events`` refuses a time without an offset on both stacks (PostgreSQL's
    JSON document would read it in the session's zone), recording none of the batch."""
    naive = clock.now().replace(tzinfo=None)
    async with database.sessionmaker() as session:
        with pytest.raises(Exception, match="naive datetimes") as refused:
            await outbox.record_events(
                session,
                [("thing.happened", {"n": 1}, clock.now()), ("thing.happened", {"n": 2}, naive)],
                org_id="org_a",
            )
        await session.rollback()
    cause = getattr(refused.value, "orig", refused.value)
    assert isinstance(refused.value, ValueError) or isinstance(cause, ValueError)
    async with database.sessionmaker() as session:
        events = await session.scalar(select(func.count()).select_from(outbox.OutboxEvent))
    assert events == 0
