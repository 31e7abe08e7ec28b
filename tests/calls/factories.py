"""Builders for calls and billing tests."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from commbase.calls.simulation import advance_simulated_calls
from commbase.core.outbox import OutboxEvent
from commbase.core.time import FrozenClock
from tests.identity.factories import Tenant

# Numbers whose last four digits choose the simulator's outcome (see providers/simulator.py).
ANSWERED_94S = "+14155551234"  # answered, talks 60 + 34 = 94 s
BUSY = "+14155550001"
NO_ANSWER = "+14155550002"
FAILS = "+14155550003"
LONG = "+14155550004"


async def fund_wallet(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    amount: int,
    owner_type: str = "organization",
    owner_id: str | None = None,
    minutes: int = 0,
    **settings: Any,
) -> dict[str, Any]:
    """Create a wallet and top it up by hand; returns the wallet as the API shows it."""
    body: dict[str, Any] = {"owner_type": owner_type, **settings}
    if owner_id:
        body["owner_id"] = owner_id
    created = await client.post("/v1/wallets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    wallet: dict[str, Any] = created.json()
    if amount or minutes:
        topped = await client.post(
            f"/v1/wallets/{wallet['id']}/topups",
            json={"amount": amount, "minutes": minutes},
            headers=headers,
        )
        assert topped.status_code == 201, topped.text
    shown = await client.get(f"/v1/wallets/{wallet['id']}", headers=headers)
    result: dict[str, Any] = shown.json()
    return result


async def place(
    client: httpx.AsyncClient, headers: dict[str, str], to: str, **body: Any
) -> httpx.Response:
    return await client.post("/v1/calls", json={"to": to, **body}, headers=headers)


async def run_clock(app: FastAPI, clock: FrozenClock, seconds: float, *, step: float = 1) -> None:
    """Move the clock forward, letting the simulator act at each step."""
    remaining = seconds
    while remaining > 0:
        clock.advance(min(step, remaining))
        remaining -= step
        await advance_simulated_calls(app.state.db, now=clock.now())


async def outbox_types(app: FastAPI, tenant: Tenant) -> list[str]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent.type)
            .where(OutboxEvent.org_id == tenant.org_id)
            .order_by(OutboxEvent.id)
        )
        return list(rows)


async def outbox_payloads(app: FastAPI, tenant: Tenant, event_type: str) -> list[dict[str, Any]]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == event_type)
            .order_by(OutboxEvent.id)
        )
        return list(rows)
