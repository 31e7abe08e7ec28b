"""The placement's gate (PostgreSQL): the wallet as read by the placement may have moved
before the gate locked it; the gate holds on the wallet as it is, or stores nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asyncpg.transaction import Transaction  # type: ignore[import-untyped]
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

from commbase.billing.models import Wallet
from commbase.calls import gate, placement
from commbase.calls.callers import Caller, CallerLimits
from commbase.calls.models import Call
from commbase.calls.placement import Placed
from commbase.calls.providers import carriers_of
from commbase.calls.schemas import CallCreate
from commbase.core import driver, readonly
from commbase.core.auth import AgentGrant, KeyGrant
from commbase.core.outbox import OutboxEvent
from commbase.core.time import utcnow
from commbase.identity.agent_sessions.models import AgentSession
from commbase.settings import Settings
from tests.calls.factories import ANSWERED_94S, fund_wallet, place
from tests.calls.test_dialing import key_principal
from tests.calls.test_placement import open_agent_session
from tests.core.conftest import assert_problem
from tests.identity.factories import Tenant, make_tenant


@pytest.fixture(autouse=True)
def postgresql_only(stack: str) -> None:
    if stack != "postgresql":
        pytest.skip("the gate stores calls on PostgreSQL; elsewhere the wallet is locked first")


def before_the_gate(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[None]]
) -> list[int]:
    """Run ``meanwhile`` once, after the placement read the wallet and before its gate;
    returns the list of the gate's runs (one entry each)."""
    real = gate.store
    runs: list[int] = []

    async def store(*args: Any) -> None:
        runs.append(1)
        if len(runs) == 1:
            await meanwhile()
        await real(*args)

    monkeypatch.setattr(gate, "store", store)
    return runs


async def set_wallet(app: FastAPI, wallet_id: str, **values: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(Wallet).where(Wallet.id == wallet_id).values(**values))
        await session.commit()


async def stored(app: FastAPI, tenant: Tenant) -> tuple[int, int]:
    """The tenant's calls and ``call.queued`` events."""
    async with app.state.db.sessionmaker() as session:
        calls = await session.scalar(
            select(func.count()).select_from(Call).where(Call.org_id == tenant.org_id)
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == "call.queued")
        )
    return int(calls or 0), int(events or 0)


async def test_a_hold_read_before_the_wallet_moved_is_worked_out_again(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The placement read 1,000 free; by its gate only 500 are: the call holds 500 and
    may last the 40 minutes they buy, not the 60 the first read promised."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    runs = before_the_gate(monkeypatch, lambda: set_wallet(app, wallet["id"], held=500))

    placed = await place(client, tenant.headers, ANSWERED_94S)

    assert placed.status_code == 201, placed.text
    assert len(runs) == 2
    assert placed.json()["max_duration_seconds"] == 40 * 60
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (1000, 1000)
    assert await stored(app, tenant) == (1, 1)


async def test_a_wallet_emptied_before_the_gate_refuses_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    before_the_gate(monkeypatch, lambda: set_wallet(app, wallet["id"], held=1000))

    refused = await place(client, tenant.headers, ANSWERED_94S)

    assert_problem(refused, 402, "payment-required")
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (1000, 1000)
    assert await stored(app, tenant) == (0, 0)


async def test_a_wallet_frozen_before_the_gate_refuses_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    before_the_gate(monkeypatch, lambda: set_wallet(app, wallet["id"], status="frozen"))

    refused = await place(client, tenant.headers, ANSWERED_94S)

    assert_problem(refused, 402, "payment-required")
    assert "not active" in refused.json()["detail"]
    await set_wallet(app, wallet["id"], status="active")
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (1000, 0)
    assert await stored(app, tenant) == (0, 0)


@pytest.mark.parametrize(("limit", "funds"), [(1, 10_000), (5, 100)])
async def test_two_placements_with_one_key_at_once_answer_with_one_call(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
    funds: int,
) -> None:
    """Both reach the gate before either committed (past the Idempotency-Key's first
    check): the second, refused by the first's call (the key's one call in progress,
    or the wallet's funds), answers with that call."""
    tenant = await make_tenant(app)
    await fund_wallet(client, tenant.headers, amount=funds)
    principal = replace(
        key_principal(tenant), key=KeyGrant(environment="live", max_concurrent_calls=limit)
    )
    real = gate.store
    arrived: list[int] = []
    both = asyncio.Event()

    async def store(*args: Any) -> None:
        arrived.append(1)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 10)
        await real(*args)

    monkeypatch.setattr(gate, "store", store)

    async def one() -> Placed:
        async with app.state.db.sessionmaker() as session:
            placed = await placement.place_call(
                session,
                principal=principal,
                data=CallCreate(to=ANSWERED_94S),
                carriers=carriers_of(app.state.job_services),
                settings=settings,
                idempotency_key="same-key",
            )
            await session.commit()
            return placed

    first, second = await asyncio.gather(one(), one())
    assert first.call.id == second.call.id
    assert sorted([first.replayed, second.replayed]) == [False, True]
    assert await stored(app, tenant) == (1, 1)


async def test_a_client_gone_while_its_gate_waits_places_nothing(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process placing the call dies while its statement waits for the wallet:
    PostgreSQL notices (``core.db.CLIENT_CHECK_MS``) and cancels it, so no call is
    stored (and dialed) for a request that was never answered."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    drivers: list[Any] = []
    real = driver.pooled

    @contextlib.asynccontextmanager
    async def pooled(engine: Any) -> AsyncIterator[Any]:
        async with real(engine) as connection:
            drivers.append(connection)
            yield connection

    monkeypatch.setattr(gate, "pooled", pooled)

    async def one() -> Placed:
        async with app.state.db.sessionmaker() as session:
            return await placement.place_call(
                session,
                principal=key_principal(tenant),
                data=CallCreate(to=ANSWERED_94S),
                carriers=carriers_of(app.state.job_services),
                settings=settings,
            )

    async with app.state.db.sessionmaker() as holder:
        await holder.execute(select(Wallet.id).where(Wallet.id == wallet["id"]).with_for_update())
        placing = asyncio.create_task(one())
        waiting = 0
        for _ in range(200):
            await asyncio.sleep(0.05)
            async with app.state.db.sessionmaker() as watcher:
                waiting = int(
                    await watcher.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND datname = current_database()"  # not another test worker's
                            " AND query LIKE '%commbase_place_call_gate%'"
                        )
                    )
                    or 0
                )
            if waiting:
                break
        assert waiting == 1
        drivers[0].terminate()  # the process's end of the connection is gone
        with pytest.raises(OperationalError):
            await placing
        await asyncio.sleep(1.0)  # PostgreSQL's next check of the client
        await holder.commit()
    await asyncio.sleep(0.5)
    assert await stored(app, tenant) == (0, 0)
    shown = (await client.get(f"/v1/wallets/{wallet['id']}", headers=tenant.headers)).json()
    assert (shown["balance"], shown["held"]) == (1000, 0)


async def test_a_wallet_locked_past_the_gates_wait_answers_409_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The gate waits 5 s at most for the wallet (migration 0062's ``lock_timeout``): a
    409 the client retries, and nothing of the placement stays."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=1000)
    async with app.state.db.sessionmaker() as holder:
        await holder.execute(select(Wallet.id).where(Wallet.id == wallet["id"]).with_for_update())
        refused = await place(client, tenant.headers, ANSWERED_94S)
        await holder.commit()

    assert_problem(refused, 409, "conflict")
    assert refused.headers["Retry-After"] == "1"
    assert await stored(app, tenant) == (0, 0)
    placed = await place(client, tenant.headers, ANSWERED_94S)
    assert placed.status_code == 201, placed.text


async def test_a_gated_placement_begins_no_transaction(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its reads run in autocommit (``core.readonly.read_first``) and its one write
    commits on its own: no BEGIN and COMMIT round trips. The locked path (a spend
    limit) still holds and stores in one transaction."""
    tenant = await make_tenant(app)
    wallet = await fund_wallet(client, tenant.headers, amount=10_000)
    assert (await place(client, tenant.headers, ANSWERED_94S)).status_code == 201
    real = Transaction.start
    begun: list[int] = []  # the driver's BEGINs for the request (the client runs it here)
    request = asyncio.current_task()

    async def start(transaction: Transaction) -> None:
        if asyncio.current_task() is request:  # not the usage counters' flush, say
            begun.append(1)
        await real(transaction)

    monkeypatch.setattr(Transaction, "start", start)
    placed = await place(client, tenant.headers, ANSWERED_94S)
    assert placed.status_code == 201, placed.text
    assert begun == []
    assert await stored(app, tenant) == (2, 2)

    held = await held_on(client, tenant, wallet["id"])

    await set_wallet(app, wallet["id"], daily_spend_limit=5_000)
    capped = await place(client, tenant.headers, ANSWERED_94S)
    assert capped.status_code == 201, capped.text
    assert len(begun) >= 1
    assert await stored(app, tenant) == (3, 3)
    assert await held_on(client, tenant, wallet["id"]) == held * 3 // 2  # one hold more


async def held_on(client: httpx.AsyncClient, tenant: Tenant, wallet_id: str) -> int:
    shown = (await client.get(f"/v1/wallets/{wallet_id}", headers=tenant.headers)).json()
    return int(shown["held"])


async def test_carrying_a_session_only_retention_reads_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The placement's reads refuse writes (``read_first``): the retention carried onto
    the call reads the agent session's expiry and leaves nothing to flush, even for a
    session whose time ran out between its request's authentication and the placement."""
    tenant = await make_tenant(app)
    session_id, _ = await open_agent_session(client, tenant, retention="session_only")
    ended = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(AgentSession).where(AgentSession.id == session_id).values(expires_at=ended)
        )
        await session.commit()
    grant = AgentGrant.of(
        agent_id="support-bot",
        session_type="guest",
        consent={"calling_authorized": True, "data_retention": "session_only"},
        limits={},
    )
    caller = replace(
        placement_caller(tenant), agent=grant, agent_session_id=session_id, api_key_id=None
    )
    call = Call(org_id=tenant.org_id)

    async with app.state.db.sessionmaker() as session:
        assert await readonly.read_first(session)
        await placement.apply_retention(session, call=call, caller=caller)
        assert not session.dirty
        await session.commit()  # nothing to write, so nothing refused
    assert call.personal_data_expires_at == ended
    assert call.data_retention == "session_only"


def placement_caller(tenant: Tenant) -> Caller:
    return Caller(
        principal=key_principal(tenant),
        user_id=tenant.owner_id,
        agent=None,
        agent_session_id=None,
        api_key_id=tenant.api_key_id,
        limits=CallerLimits(),
        timezone="UTC",
    )
