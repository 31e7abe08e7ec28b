"""Call charges from Twilio's status callbacks when many calls of one wallet end at
once: on PostgreSQL they share group commits of the wallet (``GroupedDebits``), on
SQLite each is written in its callback's transaction. Either way every call is
charged once, the balance is exact and nothing stays held, also when callbacks are
repeated concurrently or a callback's own transaction fails after its charge."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from commbase.billing import service as billing_service
from commbase.billing.models import LedgerEntry
from commbase.calls import lifecycle
from commbase.calls.enums import EventSource
from commbase.calls.providers.twilio import event_from_callback
from commbase.core.errors import PaymentRequired
from commbase.core.time import FrozenClock
from tests.calls import test_twilio
from tests.calls.factories import outbox_payloads
from tests.calls.test_twilio import (
    COST,
    FUNDS,
    HOLD,
    balance,
    charges,
    deliver,
    get_call,
    money,
    place_twilio_call,
    report,
)
from tests.identity.factories import Tenant

# The Twilio module's fixtures: its settings, frozen clock and funded tenant.
settings = test_twilio.settings
clock = test_twilio.clock
funded = test_twilio.funded

CALLS = 5  # a user session's calls in progress at once


async def _answered_calls(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> list[tuple[str, str]]:
    placed = [await place_twilio_call(app, client, tenant) for _ in range(CALLS)]
    for _, sid in placed:
        for status in ("initiated", "ringing", "in-progress"):
            await deliver(client, report(sid, status))
    return placed


async def _charged_by_a_failed_callback(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> tuple[str, str, billing_service.Hold, Decimal]:
    """An answered call whose "completed" callback charged it through the wallet's
    group, then lost its own transaction: the call id, its sid, hold and rate."""
    call_id, sid = await place_twilio_call(app, client, tenant)
    for status in ("initiated", "ringing", "in-progress"):
        await deliver(client, report(sid, status))
    event = event_from_callback(report(sid, "completed"))
    assert event is not None
    debits = billing_service.GroupedDebits.of(app.state.db)
    async with app.state.db.sessionmaker() as session:
        call = await lifecycle.load_for_update(session, org_id=tenant.org_id, call_id=call_id)
        hold = billing_service.Hold(call.hold_amount, call.hold_minutes, 0)
        rate = call.rate_per_minute or Decimal(0)
        await lifecycle.apply_event(
            session, call=call, event=event, source=EventSource.TWILIO, debits=debits
        )
        await session.rollback()  # the callback's own writes are lost
    return call_id, sid, hold, rate


async def test_calls_of_one_wallet_ending_together_are_each_charged_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, wallet_id = funded
    placed = await _answered_calls(app, client, tenant)
    assert await balance(client, tenant, wallet_id) == (FUNDS, CALLS * HOLD)

    # Every call's "completed" arrives twice, all at the same time.
    await asyncio.gather(*(deliver(client, report(sid, "completed")) for _, sid in placed * 2))

    assert await balance(client, tenant, wallet_id) == (FUNDS - CALLS * COST, 0)
    entries = []
    for call_id, _ in placed:
        done = await get_call(client, tenant, call_id)
        assert money(done) == ("completed", 125, 3, COST)
        [charge] = await charges(client, tenant, call_id)
        assert (charge["category"], charge["amount"]) == ("call_charge", COST)
        assert done["ledger_entry_id"] == charge["id"]
        entries.append(charge)
    # The charges chain: each starts where another ended, from the funds down.
    chain = sorted(entries, key=lambda e: -e["balance_before"])
    assert chain[0]["balance_before"] == FUNDS
    for earlier, later in itertools.pairwise(chain):
        assert later["balance_before"] == earlier["balance_after"]
    assert chain[-1]["balance_after"] == FUNDS - CALLS * COST
    debited = await outbox_payloads(app, tenant, "wallet.debited")
    assert sorted(p["id"] for p in debited) == sorted(e["id"] for e in entries)
    completed = await outbox_payloads(app, tenant, "call.completed")
    assert sorted(p["id"] for p in completed) == sorted(call_id for call_id, _ in placed)
    assert {p["cost_amount"] for p in completed} == {COST}


async def test_a_callback_whose_transaction_fails_after_the_charge_is_charged_once(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    tenant, wallet_id = funded
    call_id, sid, _, _ = await _charged_by_a_failed_callback(app, client, tenant)
    # Twilio retries: the call completes with the charge made the first time (on
    # PostgreSQL it had committed in its group), never a second one.
    await deliver(client, report(sid, "completed"))
    done = await get_call(client, tenant, call_id)
    assert money(done) == ("completed", 125, 3, COST)
    [charge] = await charges(client, tenant, call_id)
    assert done["ledger_entry_id"] == charge["id"]
    assert await balance(client, tenant, wallet_id) == (FUNDS - COST, 0)
    async with app.state.db.sessionmaker() as session:
        keys = (
            await session.scalars(
                select(LedgerEntry.idempotency_key).where(LedgerEntry.wallet_id == wallet_id)
            )
        ).all()
    assert keys.count(f"call:{call_id}") == 1


async def test_a_call_charged_by_its_group_and_ended_again_frees_its_hold_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    funded: tuple[Tenant, str],
    stack: str,
) -> None:
    """The callback that charged a call in its wallet's group fails after the group
    committed; the call then ends again with nothing billable (canceled): the charge
    stays, and the hold, which went back with the charge, is not given back twice."""
    tenant, wallet_id = funded
    call_id, _, hold, rate = await _charged_by_a_failed_callback(app, client, tenant)
    assert await balance(client, tenant, wallet_id) == (
        (FUNDS - COST, 0) if stack == "postgresql" else (FUNDS, HOLD)
    )

    async with app.state.db.sessionmaker() as session:
        entry = await billing_service.charge_call(
            session,
            org_id=tenant.org_id,
            wallet_id=wallet_id,
            call_id=call_id,
            hold=hold,
            billable_minutes=0,
            rate_per_minute=rate,
            user_id=None,
            agent_session_id=None,
        )
        await session.commit()

    charged = COST if stack == "postgresql" else 0
    assert (entry.amount if entry is not None else 0) == charged
    assert await balance(client, tenant, wallet_id) == (FUNDS - charged, 0)


async def test_a_debit_past_the_available_balance_is_refused_beside_call_charges(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, funded: tuple[Tenant, str]
) -> None:
    """A plain debit of the same wallet taking more than its available balance is
    refused (whichever of the charges committed before it), the calls' charges still
    apply, and a debit the balance covers goes through."""
    tenant, wallet_id = funded
    placed = await _answered_calls(app, client, tenant)
    debits = billing_service.GroupedDebits.of(app.state.db)
    available = FUNDS - CALLS * COST  # the most there is, once every call is charged
    posting = billing_service.Posting(type="debit", category="admin_adjustment")

    async def too_much() -> None:
        with pytest.raises(PaymentRequired):
            await debits.debit(
                org_id=tenant.org_id, wallet_id=wallet_id, amount=available + 1, posting=posting
            )

    await asyncio.gather(
        too_much(), *(deliver(client, report(sid, "completed")) for _, sid in placed)
    )
    await debits.debit(org_id=tenant.org_id, wallet_id=wallet_id, amount=100, posting=posting)
    assert await balance(client, tenant, wallet_id) == (FUNDS - CALLS * COST - 100, 0)
    for call_id, _ in placed:
        assert len(await charges(client, tenant, call_id)) == 1
