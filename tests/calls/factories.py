"""Builders for calls and billing tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from commbase.calls import dialing
from commbase.calls.models import Call
from commbase.calls.providers import Carriers, Dialed, carriers_of
from commbase.calls.providers.simulator import SimulatorProvider
from commbase.calls.simulation import advance_simulated_calls
from commbase.core.effects import EffectRunner
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


async def dial_queued(app: FastAPI, *, worker_id: str = "effects") -> int:
    """Run the dial effect for every committed placement, as the app's runner does right
    after each commit; returns how many dial events were handled."""
    runner = EffectRunner(app.state.db, services=app.state.job_services, worker_id=worker_id)
    return await runner.run_once(only=[dialing.CONSUMER])


async def run_clock(app: FastAPI, clock: FrozenClock, seconds: float, *, step: float = 1) -> None:
    """Dial what is queued, then move the clock forward, letting the simulator act at
    each step."""
    await dial_queued(app)
    remaining = seconds
    while remaining > 0:
        clock.advance(min(step, remaining))
        remaining -= step
        await dial_queued(app)
        await advance_simulated_calls(app.state.db, now=clock.now())


@dataclass
class RecordingCarrier:
    """A carrier that records every dial and plays the call like the simulator.

    ``fail_with`` raises on each dial (after recording it); ``repeatable_dial`` False
    makes it behave like a carrier without idempotency keys (Twilio)."""

    name: str = "simulator"
    repeatable_dial: bool = True
    dials: list[tuple[str, str]] = field(default_factory=list)  # (call id, reference)
    actions: list[tuple[str, str]] = field(default_factory=list)  # (call id, action)
    fail_with: BaseException | None = None
    inner: SimulatorProvider = field(default_factory=SimulatorProvider)

    async def dial(self, *, call: Call, allowed_s: int, reference: str) -> Dialed:
        self.dials.append((call.id, reference))
        if self.fail_with is not None:
            raise self.fail_with
        dialed = await self.inner.dial(call=call, allowed_s=allowed_s, reference=reference)
        if self.name != "simulator":  # not a script the simulator would play
            return Dialed(provider_call_id="CA" + reference[-30:], state={})
        return dialed

    async def act(self, *, call: Call, action: str, parameters: dict[str, Any]) -> None:
        self.actions.append((call.id, action))


def install_carrier(app: FastAPI, carrier: RecordingCarrier) -> RecordingCarrier:
    """Make ``carrier`` the app's provider of its name (for routes and effects)."""
    current = carriers_of(app.state.job_services)
    app.state.job_services["call_carriers"] = Carriers(
        current.settings, providers={carrier.name: carrier}
    )
    return carrier


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
