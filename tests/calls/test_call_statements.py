"""What a call costs the database: its dial stamps it in one statement, the steps
the simulator applies to it in one pass record their events together, in order, and
a finished call's counters go with its reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, text

from commbase.calls import counting, lifecycle
from commbase.calls.models import Call, CallEvent
from commbase.calls.simulation import advance_simulated_calls
from commbase.core.driver import Driver
from commbase.core.outbox import OutboxDelivery, OutboxEvent
from commbase.core.time import FrozenClock, use_clock
from tests.calls.factories import ANSWERED_94S, dial_queued, fund_wallet, place
from tests.identity.factories import make_tenant


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(frozen):
        yield frozen


@contextmanager
def sent_to_driver(sent: list[tuple[str, tuple[Any, ...]]]) -> Iterator[None]:
    """Record the statements sent to the driver directly (``core.driver.Driver``: the
    dial's steps, batch INSERTs), which SQLAlchemy's events do not see."""
    original = Driver._guarded

    def recording(driver: Driver, method: Any) -> Any:
        guarded = original(driver, method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], str):
                sent.append((args[0], tuple(args[1:])))
            return await guarded(*args, **kwargs)

        return call

    Driver._guarded = recording  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Driver._guarded = original  # type: ignore[method-assign]


class Statements:
    """The statements SQLAlchemy sends while it is entered (lowercase); with
    ``driver``, those sent to the driver directly too, in order."""

    def __init__(self, app: FastAPI, *, driver: bool = False) -> None:
        self.engine = app.state.db.engine.sync_engine
        self.sent: list[str] = []
        self._driver: list[tuple[str, tuple[Any, ...]]] = []
        self._recording = sent_to_driver(self._driver if driver else [])

    def _seen(self, *args: object) -> None:
        self._take_driver()
        self.sent.append(f"{args[2]} {args[3]}".lower())  # the statement, its parameters

    def _take_driver(self) -> None:
        self.sent.extend(f"{sql} {arguments}".lower() for sql, arguments in self._driver)
        self._driver.clear()

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        self._recording.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._recording.__exit__(None, None, None)
        event.remove(self.engine, "before_cursor_execute", self._seen)
        self._take_driver()

    def count(self, fragment: str) -> int:
        return sum(fragment in sql for sql in self.sent)

    def on_calls(self) -> list[str]:
        return [sql for sql in self.sent if re.search(r"\b(from|update|into) calls\b", sql)]


async def test_a_dial_stamps_its_call_in_one_statement_and_dials_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    with Statements(app, driver=True) as statements:
        assert await dial_queued(app) == 1
    # Stamp the attempt (locking the row), then store the carrier's id: no SELECT ... FOR
    # UPDATE of the call before its stamp.
    stamp, store = statements.on_calls()
    assert stamp.startswith("update calls set dial_attempted_at")
    assert store.startswith("update calls set provider_call_id")
    assert await dial_queued(app) == 0  # nothing dialed twice

    shown = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert shown["status"] == "queued"
    clock.advance(2)
    await advance_simulated_calls(app.state.db, now=clock.now())
    ringing = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert ringing["status"] == "ringing"


async def test_steps_applied_in_one_pass_record_their_events_in_one_statement(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    await dial_queued(app)

    clock.advance(200)  # every step is due: initiated, ringing, answered, completed
    with Statements(app) as statements:
        assert await advance_simulated_calls(app.state.db, now=clock.now()) == 4
    # SQLite: one INSERT of the call's events and one of their deliveries (before, one
    # of each per event); PostgreSQL: one statement, sent to the driver (none through
    # SQLAlchemy; before, one per event). The charge records its own event.
    recording_call_events = [
        sql for sql in statements.sent if "insert into outbox_events" in sql and "'call." in sql
    ]
    assert len(recording_call_events) <= 1

    done = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
    assert (done["status"], done["cost_amount"]) == ("completed", 25)
    async with app.state.db.sessionmaker() as session:
        rows = (
            await session.execute(
                select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.payload)
                .where(OutboxEvent.org_id == tenant.org_id, OutboxEvent.type.like("call.%"))
                .order_by(OutboxEvent.id)
            )
        ).all()
        deliveries = (
            await session.execute(
                select(OutboxDelivery.event_id, OutboxDelivery.consumer).order_by(OutboxDelivery.id)
            )
        ).all()
    assert [row.type for row in rows] == [
        "call.queued",
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.completed",
    ]
    assert [row.payload["status"] for row in rows[1:]] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert rows[-1].payload["cost_amount"] == 25
    # Each event's deliveries follow the previous event's, as when recorded one by one.
    order = [event_id for event_id, _ in deliveries if event_id in {row.id for row in rows}]
    assert order == sorted(order, key=[row.id for row in rows].index)
    assert {event_id for event_id, _ in deliveries} >= {row.id for row in rows[1:]}


async def test_a_finished_call_counts_for_its_contact_and_user_with_its_reports(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Two completed calls to a contact: its stats and its user's counters, and each
    call's reports in order. On PostgreSQL the call's UPDATE, the counters' UPDATEs,
    the INSERT of the call's reports and that of its events are one statement (before:
    five)."""
    tenant = await make_tenant(app)
    other = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    contact = await client.post(
        "/v1/contacts", json={"name": "Jan", "phone": ANSWERED_94S}, headers=tenant.headers
    )
    elsewhere = await client.post(
        "/v1/contacts", json={"name": "Same", "phone": ANSWERED_94S}, headers=other.headers
    )
    assert (contact.status_code, elsewhere.status_code) == (201, 201)

    ended = []
    for _ in range(2):
        call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
        await dial_queued(app)
        clock.advance(200)  # every step is due: initiated, ringing, answered, completed
        with Statements(app) as statements:
            assert await advance_simulated_calls(app.state.db, now=clock.now()) == 4
        counted = [sql for sql in statements.sent if "update contacts" in sql]
        assert len(counted) == 1
        if app.state.db.dialect == "postgresql":
            assert "update users" in counted[0]
            assert "insert into call_events" in counted[0]
            assert "insert into outbox_events" in counted[0]
            for table in ("call_events", "outbox_events", "outbox_deliveries"):
                # The charge's wallet.debited event is recorded with its group.
                assert statements.count(f"insert into {table}") == 1, table
            assert statements.count("update users") == 1
            # The call's own row too (before: the ORM's flush, a statement of its own).
            assert "update calls" in counted[0]
            assert statements.count("update calls") == 1
        done = (await client.get(f"/v1/calls/{call_id}", headers=tenant.headers)).json()
        assert (done["status"], done["duration_seconds"]) == ("completed", 94)
        assert (done["billable_minutes"], done["cost_amount"]) == (2, 25)
        assert done["cost_breakdown"]["call_cost"] == 25
        assert datetime.fromisoformat(done["updated_at"]) == clock.now()
        ended.append(datetime.fromisoformat(done["ended_at"]))
        async with app.state.db.sessionmaker() as session:
            reports = (
                await session.execute(
                    select(CallEvent.status, CallEvent.applied, CallEvent.payload)
                    .where(CallEvent.org_id == tenant.org_id, CallEvent.call_id == call_id)
                    .order_by(CallEvent.id)
                )
            ).all()
        assert [tuple(row) for row in reports] == [
            ("initiated", True, {"simulated": True}),
            ("ringing", True, {"simulated": True}),
            ("in-progress", True, {"simulated": True}),
            ("completed", True, {"simulated": True}),
        ]
        clock.advance(3600)

    shown = await client.get(f"/v1/contacts/{contact.json()['id']}", headers=tenant.headers)
    stats = shown.json()["stats"]
    assert (stats["total_calls"], stats["total_duration"]) == (2, 188)
    assert datetime.fromisoformat(stats["first_called_at"]) == ended[0]
    assert datetime.fromisoformat(stats["last_called_at"]) == ended[1]
    untouched = await client.get(f"/v1/contacts/{elsewhere.json()['id']}", headers=other.headers)
    assert untouched.json()["stats"]["total_calls"] == 0
    user = (await client.get(f"/v1/users/{tenant.owner_id}", headers=tenant.headers)).json()
    assert (user["total_calls"], user["total_video_calls"], user["total_call_duration"]) == (
        2,
        0,
        188,
    )


async def test_a_placement_stores_its_call_and_queued_event_together(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The call and its ``call.queued`` event (with its deliveries) are written by one
    statement on PostgreSQL, whose gate locks the wallet, counts the caller's calls in
    progress and takes the call's hold, after one statement that read the placement's
    rows; elsewhere by statements of their own; the event names the call as answered
    and the wallet shows the hold."""
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    with Statements(app, driver=True) as statements:
        placed = await place(client, tenant.headers, ANSWERED_94S)
    assert placed.status_code == 201, placed.text
    call = placed.json()
    stored = [sql for sql in statements.sent if "insert into calls" in sql]
    assert len(stored) == 1
    if app.state.db.dialect == "postgresql":
        assert "insert into outbox_events" in stored[0]
        assert "insert into outbox_deliveries" in stored[0]
        assert statements.count("insert into outbox_events") == 1
        # The gate counts and holds (migration 0062): no statement of their own, and
        # no lock taken before it.
        assert "commbase_place_call_gate(" in stored[0]
        assert statements.count("count(") == 0
        assert statements.count("update wallets") == 0
        assert statements.count("for no key update") == 0
        assert len(statements.sent) == 2
        assert statements.sent[1] is stored[0]
    else:
        assert statements.count("insert into outbox_events") == 1
        assert statements.count("update wallets") == 1
    async with app.state.db.sessionmaker() as session:
        queued = (
            await session.execute(
                select(OutboxEvent).where(
                    OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == "call.queued"
                )
            )
        ).scalar_one()
        consumers = (
            await session.scalars(
                select(OutboxDelivery.consumer)
                .where(OutboxDelivery.event_id == queued.id)
                .order_by(OutboxDelivery.consumer)
            )
        ).all()
    assert queued.payload["id"] == call["id"]
    assert queued.payload["status"] == "queued"
    assert queued.created_at.tzinfo is not None
    assert "calls.dial" in consumers
    wallet = (await client.get("/v1/wallets", headers=tenant.headers)).json()["data"][0]
    assert wallet["held"] > 0


async def test_a_report_at_a_naive_time_is_refused_and_nothing_is_written(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Both stacks refuse a report whose time has no offset (PostgreSQL would read it
    in the session's zone): the transaction writes none of the call's reports."""
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    naive = datetime(2026, 11, 20, 10, tzinfo=UTC).replace(tzinfo=None)
    rows = [
        counting.report_row(
            org_id=tenant.org_id,
            call_id=call_id,
            status=status,
            applied=True,
            source="provider",
            occurred_at=at,
            payload={},
        )
        for status, at in (("ringing", clock.now()), ("completed", naive))
    ]
    async with app.state.db.sessionmaker() as session:
        with pytest.raises(Exception, match="naive datetimes") as refused:
            await counting.write_reports(session, rows)
        await session.rollback()
        written = await session.scalar(
            select(func.count()).select_from(CallEvent).where(CallEvent.call_id == call_id)
        )
    # ValueError itself, or wrapped by SQLAlchemy's bind processing (StatementError).
    assert isinstance(refused.value, ValueError) or isinstance(
        getattr(refused.value, "orig", None), ValueError
    ), refused.value
    assert written == 0


async def test_a_dial_finds_its_call_by_key_whatever_the_statistics_say(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, stack: str
) -> None:
    """calls analyzed while nearly empty, then an organization with 300 calls (a fresh
    database, an organization grown since the last ANALYZE): the dial's UPDATEs and
    ``load_for_update`` still read the call through its primary key, not every call of
    the organization through an index on ``org_id`` (which PostgreSQL took, ~1 ms a
    statement at 2,000 calls)."""
    if stack != "postgresql":
        pytest.skip("planner statistics exist on PostgreSQL only")
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    async with app.state.db.engine.connect() as connection:
        await connection.execute(text("ANALYZE calls"))
        await connection.commit()
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            Call(org_id=tenant.org_id, provider="simulator", status="completed") for _ in range(300)
        )
        await session.commit()
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]

    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sent_to_driver(sent):  # the dial's steps (core.driver.pooled)
            assert await dial_queued(app) == 1
        async with app.state.db.sessionmaker() as session:
            await lifecycle.load_for_update(session, org_id=tenant.org_id, call_id=call_id)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    on_calls = [(s, p) for s, p in sent if re.match(r"(UPDATE calls|SELECT calls\.id)", s)]
    assert len(on_calls) == 3, [s[:60] for s, _ in sent]
    async with app.state.db.engine.connect() as connection:
        for statement, params in on_calls:
            rows = await connection.exec_driver_sql("EXPLAIN " + statement, params)
            plan = "\n".join(str(row[0]) for row in rows)
            assert "Index Scan using pk_calls on calls" in plan, plan


async def test_a_call_written_with_its_counters_is_left_clean_in_its_session(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The finishing statement writes the call's changes (``counting.writes_call``) and
    the session then holds the call as a flush leaves it: not dirty, nothing for the
    next flush to do (no unit of work, no ``after_flush``). SQLAlchemy's public
    ``set_committed_value`` would leave it in ``session.dirty`` for a flush to visit."""
    if app.state.db.dialect != "postgresql":
        pytest.skip("the call's row goes with its counters on PostgreSQL only")
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=1000)
    call_id = (await place(client, tenant.headers, ANSWERED_94S)).json()["id"]
    flushes: list[object] = []
    async with app.state.db.sessionmaker() as session:
        call = await session.get_one(Call, call_id)
        call.status, call.end_reason, call.ended_at = "completed", "done", clock.now()
        assert counting.writes_call(session, call)
        event.listen(session.sync_session, "after_flush", lambda *a: flushes.append(a))
        report = counting.report_row(
            org_id=call.org_id,
            call_id=call.id,
            status="completed",
            applied=True,
            source="test",
            occurred_at=clock.now(),
            payload={},
        )
        await counting.count_finished(
            session,
            org_id=call.org_id,
            call_id=call.id,
            party=None,
            at=clock.now(),
            duration_s=0,
            user_id=None,
            kind=call.kind,
            reports=[report],
            events=[],
            call=call,
        )
        assert (list(session.dirty), session.is_modified(call)) == ([], False)
        await session.flush()
        assert flushes == []
        stored = (
            await session.execute(select(Call.status, Call.end_reason).where(Call.id == call_id))
        ).one()
        assert tuple(stored) == (call.status, call.end_reason) == ("completed", "done")
        await session.rollback()
