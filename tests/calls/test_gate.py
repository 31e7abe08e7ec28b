"""The placement's gate (PostgreSQL): the wallet as read by the placement may have moved
before the gate locked it; the gate holds on the wallet as it is, or stores nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from commbase.billing.models import Wallet
from commbase.calls import gate
from commbase.calls.models import Call
from commbase.core.outbox import OutboxEvent
from tests.calls.factories import ANSWERED_94S, fund_wallet, place
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
