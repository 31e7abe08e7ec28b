"""Package minutes are spent first when calls end, however many calls overlap and in
whatever order they end."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
from fastapi import FastAPI

from commbase.billing import service as billing_service
from commbase.billing.models import Wallet
from commbase.core.errors import PaymentRequired
from commbase.core.time import FrozenClock, use_clock
from tests.billing.factories import entries, open_wallet, shown
from tests.calls.factories import ANSWERED_94S, place, run_clock
from tests.identity.factories import make_tenant

RATE = Decimal("0.125")


async def test_seven_overlapping_calls_spend_package_minutes_not_money(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app)
    clock = FrozenClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with use_clock(clock):
        wallet = await open_wallet(client, tenant.headers, amount=10_000, minutes=120)
        calls = []
        for _ in range(7):
            placed = await place(client, tenant.headers, ANSWERED_94S)
            assert placed.status_code == 201, placed.text
            calls.append(placed.json())
        during = await shown(client, tenant.headers, wallet["id"])
        # Each call may run an hour; the money covers every hold, so no call
        # reserves package minutes and all 120 stay free for whichever ends first.
        assert [c["max_duration_seconds"] for c in calls] == [3600] * 7
        assert (during["held"], during["held_minutes"]) == (7 * 750, 0)
        await run_clock(app, clock, 110, step=5)
    after = await shown(client, tenant.headers, wallet["id"])
    assert (after["balance"], after["held"]) == (10_000, 0)
    assert (after["balance_minutes"], after["held_minutes"]) == (120 - 7 * 2, 0)
    charges = [
        e
        for e in await entries(client, tenant.headers, wallet["id"])
        if e["category"] == "call_charge"
    ]
    assert sorted((e["amount"], e["minutes"]) for e in charges) == [(0, 2)] * 7
    for call in calls:
        shown_call = (await client.get(f"/v1/calls/{call['id']}", headers=tenant.headers)).json()
        assert shown_call["status"] == "completed"
        assert (shown_call["cost_amount"], shown_call["billable_minutes"]) == (0, 2)
        assert shown_call["cost_breakdown"]["package_minutes"] == 2


async def _wallet(app: FastAPI, org_id: str, *, money: int, minutes: int) -> str:
    async with app.state.db.sessionmaker() as session:
        wallet = await billing_service.create_wallet(
            session, org_id=org_id, owner_type="organization", owner_id=org_id, currency="USD"
        )
        await billing_service.credit(
            session,
            wallet=wallet,
            amount=money,
            minutes=minutes,
            posting=billing_service.Posting(type="credit", category="wallet_topup"),
        )
        await session.commit()
        return wallet.id


async def _holds(
    app: FastAPI, org_id: str, wallet_id: str, count: int
) -> list[billing_service.Hold]:
    holds = []
    for _ in range(count):
        async with app.state.db.sessionmaker() as session:
            wallet = await billing_service.get_wallet(
                session, org_id=org_id, wallet_id=wallet_id, for_update=True
            )
            holds.append(
                await billing_service.hold_for_call(
                    session, wallet=wallet, rate_per_minute=RATE, max_minutes=60
                )
            )
            await session.commit()
    return holds


async def _capture(
    app: FastAPI, org_id: str, wallet_id: str, hold: billing_service.Hold, n: int, minutes: int
) -> tuple[int, int]:
    async with app.state.db.sessionmaker() as session:
        wallet = await billing_service.get_wallet(
            session, org_id=org_id, wallet_id=wallet_id, for_update=True
        )
        entry = await billing_service.capture_call(
            session,
            wallet=wallet,
            call_id=f"call_{wallet_id[-12:]}{n}",
            hold=hold,
            billable_minutes=minutes,
            rate_per_minute=RATE,
            user_id=None,
            agent_session_id=None,
        )
        await session.commit()
        assert entry is not None
        return entry.amount, entry.minutes


async def _state(app: FastAPI, wallet_id: str) -> tuple[int, int, int, int]:
    async with app.state.db.sessionmaker() as session:
        wallet = await session.get(Wallet, wallet_id)
        assert wallet is not None
        return wallet.balance, wallet.held, wallet.balance_minutes, wallet.held_minutes


async def test_any_end_order_spends_minutes_first_while_money_covers_the_holds(
    app: FastAPI,
) -> None:
    for order in (range(7), reversed(range(7)), (3, 0, 6, 1, 5, 2, 4)):
        tenant = await make_tenant(app)
        wallet_id = await _wallet(app, tenant.org_id, money=10_000, minutes=120)
        holds = await _holds(app, tenant.org_id, wallet_id, 7)
        assert [(h.amount, h.minutes, h.allowed_minutes) for h in holds] == [(750, 0, 60)] * 7
        paid = [await _capture(app, tenant.org_id, wallet_id, holds[i], i, 20) for i in order]
        # 6 calls of 20 minutes use the 120 package minutes; the last one pays money.
        assert sorted(paid) == [(0, 20)] * 6 + [(250, 0)]
        assert await _state(app, wallet_id) == (10_000 - 250, 0, 0, 0)


async def test_minutes_reserved_when_money_runs_out_are_spent_by_their_calls(
    app: FastAPI,
) -> None:
    tenant = await make_tenant(app)
    # $15 covers two hours at 12.5 cents; 120 package minutes cover two more.
    wallet_id = await _wallet(app, tenant.org_id, money=1500, minutes=120)
    holds = await _holds(app, tenant.org_id, wallet_id, 4)
    assert [(h.amount, h.minutes) for h in holds] == [(750, 0), (750, 0), (0, 60), (0, 60)]
    assert await _state(app, wallet_id) == (1500, 1500, 120, 120)
    try:
        await _holds(app, tenant.org_id, wallet_id, 1)
    except PaymentRequired:
        pass
    else:  # pragma: no cover - the assertion explains a failure
        raise AssertionError("a fifth hour was held with nothing left to cover it")
    # The package-minute calls end first and free what they did not use; the money
    # calls that end after them spend those minutes instead of money.
    paid = [await _capture(app, tenant.org_id, wallet_id, holds[i], i, 3) for i in (3, 2, 1, 0)]
    assert paid == [(0, 3)] * 4
    assert await _state(app, wallet_id) == (1500, 0, 120 - 12, 0)
