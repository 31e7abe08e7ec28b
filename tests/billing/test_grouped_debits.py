"""Concurrent debits of one wallet: grouped into shared transactions
(``billing.grouped``) and one transaction each (``billing.service.debit``), the books
stay exact and a short balance refuses exactly the debits that would overdraw it."""

from __future__ import annotations

import asyncio
import gc

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from commbase.billing import service as billing_service
from commbase.billing.grouped import GroupedDebits
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound, PaymentRequired
from commbase.core.outbox import OutboxEvent
from tests.identity.factories import Tenant, make_tenant


async def _funded_wallet(app: FastAPI, tenant: Tenant, amount: int, **settings: int | bool) -> str:
    async with app.state.db.sessionmaker() as session:
        wallet = await billing_service.create_wallet(
            session,
            org_id=tenant.org_id,
            owner_type="organization",
            owner_id=tenant.org_id,
            currency="USD",
            settings=settings or None,
        )
        await billing_service.credit(
            session,
            wallet=wallet,
            amount=amount,
            posting=billing_service.Posting(type="credit", category="wallet_topup"),
        )
        await session.commit()
        return wallet.id


def _posting(key: str | None) -> billing_service.Posting:
    return billing_service.Posting(type="debit", category="call_charge", idempotency_key=key)


async def _books(
    app: FastAPI, tenant: Tenant, wallet_id: str
) -> tuple[int, list[tuple[int, int]], int]:
    """The balance, the debit rows' (before, after) from the top, the debited events."""
    async with app.state.db.sessionmaker() as session:
        wallet = await session.get(Wallet, wallet_id)
        assert wallet is not None
        assert wallet.held == 0
        chain = (
            await session.execute(
                select(LedgerEntry.balance_before, LedgerEntry.balance_after)
                .where(LedgerEntry.wallet_id == wallet_id, LedgerEntry.type == "debit")
                .order_by(LedgerEntry.balance_before.desc())
            )
        ).all()
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == "wallet.debited")
        )
        return wallet.balance, [(int(b), int(a)) for b, a in chain], int(events or 0)


def _linked(start: int, chain: list[tuple[int, int]]) -> int:
    """Walk ``start -> ...`` through the rows; the balance they end at."""
    current = start
    for before, after in chain:
        assert before == current
        assert after < before
        current = after
    return current


async def _single(app: FastAPI, tenant: Tenant, wallet_id: str, amount: int, key: str) -> bool:
    async with app.state.db.sessionmaker() as session:
        wallet = await billing_service.get_wallet(
            session, org_id=tenant.org_id, wallet_id=wallet_id
        )
        try:
            await billing_service.debit(
                session, wallet=wallet, amount=amount, posting=_posting(key)
            )
        except PaymentRequired:
            await session.rollback()
            return False
        await session.commit()
        return True


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "one-per-transaction"])
async def test_concurrent_debits_leave_the_exact_balance_and_one_entry_each(
    app: FastAPI, grouped: bool
) -> None:
    tenant = await make_tenant(app)
    amounts = [(i % 97) + 1 for i in range(120)]
    start = sum(amounts) + 500
    wallet_id = await _funded_wallet(app, tenant, start)
    debits = GroupedDebits(app.state.db)
    # One transaction per debit holds a pooled connection while it waits for the wallet's
    # row: 20 at a time stay within the pool (30) however slow a busy machine makes them.
    in_flight = asyncio.Semaphore(20)

    async def one(index: int) -> bool:
        if not grouped:
            async with in_flight:
                return await _single(app, tenant, wallet_id, amounts[index], f"n{index}")
        entry = await debits.debit(
            org_id=tenant.org_id,
            wallet_id=wallet_id,
            amount=amounts[index],
            posting=_posting(f"n{index}"),
        )
        assert (entry.amount, entry.balance_before - entry.balance_after) == (amounts[index],) * 2
        return True

    assert all(await asyncio.gather(*(one(i) for i in range(len(amounts)))))
    balance, chain, events = await _books(app, tenant, wallet_id)
    assert balance == 500
    assert len(chain) == len(amounts) == events
    assert _linked(start, chain) == 500

    # A retried key returns its entry and changes nothing.
    if grouped:
        again = await debits.debit(
            org_id=tenant.org_id, wallet_id=wallet_id, amount=amounts[3], posting=_posting("n3")
        )
        assert again.idempotency_key == "n3"
    else:
        assert await _single(app, tenant, wallet_id, amounts[3], "n3")
    assert await _books(app, tenant, wallet_id) == (balance, chain, events)


async def test_a_short_balance_refuses_exactly_the_debits_that_would_overdraw(
    app: FastAPI,
) -> None:
    tenant = await make_tenant(app)
    wallet_id = await _funded_wallet(app, tenant, 1_000, low_balance_threshold=250)
    debits = GroupedDebits(app.state.db)
    # Handed in together, decided in order: 400 (600 left), 700 refused, 300 (300),
    # 500 refused, 200 (100), 100 (0), 1 refused.
    amounts = [400, 700, 300, 500, 200, 100, 1]
    outcomes = await asyncio.gather(
        *(
            debits.debit(
                org_id=tenant.org_id, wallet_id=wallet_id, amount=a, posting=_posting(f"s{i}")
            )
            for i, a in enumerate(amounts)
        ),
        return_exceptions=True,
    )
    refused = [a for a, o in zip(amounts, outcomes, strict=True) if isinstance(o, PaymentRequired)]
    assert refused == [700, 500, 1]
    balance, chain, events = await _books(app, tenant, wallet_id)
    assert (balance, len(chain), events) == (0, 4, 4)
    assert _linked(1_000, chain) == 0
    async with app.state.db.sessionmaker() as session:
        warnings = (
            await session.scalars(
                select(OutboxEvent.payload).where(
                    OutboxEvent.org_id == tenant.org_id, OutboxEvent.type == "wallet.low_balance"
                )
            )
        ).all()
    assert [(w["balance"], w["threshold"]) for w in warnings] == [(100, 250)]

    # Many more concurrent debits than the money covers: exactly as many as it
    # covers go through, whichever transactions they share.
    other = await make_tenant(app)
    other_wallet = await _funded_wallet(app, other, 5_000)
    results = await asyncio.gather(
        *(
            debits.debit(
                org_id=other.org_id, wallet_id=other_wallet, amount=100, posting=_posting(f"o{i}")
            )
            for i in range(80)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 50
    assert all(isinstance(r, PaymentRequired) for r in results if isinstance(r, BaseException))

    with pytest.raises(NotFound):
        await debits.debit(
            org_id=tenant.org_id, wallet_id=other_wallet, amount=1, posting=_posting(None)
        )


async def test_grouped_debits_of_an_auto_recharging_wallet_recharge_once(app: FastAPI) -> None:
    tenant = await make_tenant(app)
    wallet_id = await _funded_wallet(
        app,
        tenant,
        1_000,
        auto_recharge=True,
        auto_recharge_threshold=500,
        auto_recharge_amount=2_000,
    )
    debits = GroupedDebits(app.state.db)
    await asyncio.gather(
        *(
            debits.debit(
                org_id=tenant.org_id, wallet_id=wallet_id, amount=100, posting=_posting(f"r{i}")
            )
            for i in range(8)
        )
    )
    async with app.state.db.sessionmaker() as session:
        wallet = await session.get(Wallet, wallet_id)
        assert wallet is not None
        # 1,000 - 8 x 100, and one recharge of 2,000 when a debit took it under 500.
        assert wallet.balance == 1_000 - 800 + 2_000
        recharges = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(
                LedgerEntry.wallet_id == wallet_id, LedgerEntry.payment_method == "auto_recharge"
            )
        )
    assert recharges == 1


async def test_a_key_used_by_another_tenant_is_a_conflict_not_their_entry(app: FastAPI) -> None:
    """The ledger's idempotency index is global: a key already on another tenant's
    entry never hands that entry back as this wallet's debit (grouped or not)."""
    mine, theirs = await make_tenant(app), await make_tenant(app)
    my_wallet = await _funded_wallet(app, mine, 1_000)
    their_wallet = await _funded_wallet(app, theirs, 1_000)
    assert await _single(app, theirs, their_wallet, 70, "shared-key")
    debits = GroupedDebits(app.state.db)
    with pytest.raises(Conflict):
        await debits.debit(
            org_id=mine.org_id, wallet_id=my_wallet, amount=5, posting=_posting("shared-key")
        )
    with pytest.raises(Conflict):
        await _single(app, mine, my_wallet, 5, "shared-key")
    assert await _books(app, mine, my_wallet) == (1_000, [], 0)
    assert (await _books(app, theirs, their_wallet))[0] == 930


async def test_a_failed_group_fails_every_waiter_and_applies_nothing(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(app)
    wallet_id = await _funded_wallet(app, tenant, 1_000)

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the outbox write failed")

    monkeypatch.setattr(outbox, "record_many", broken)
    debits = GroupedDebits(app.state.db)
    outcomes = await asyncio.gather(
        *(
            debits.debit(
                org_id=tenant.org_id, wallet_id=wallet_id, amount=10, posting=_posting(f"f{i}")
            )
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert [type(o) for o in outcomes] == [RuntimeError] * 5
    assert await _books(app, tenant, wallet_id) == (1_000, [], 0)


async def test_a_cancelled_waiter_leaves_no_unretrieved_exception(app: FastAPI) -> None:
    """A caller cancelled while its debit is refused: the refusal is retrieved, so
    asyncio reports no 'Future exception was never retrieved'."""
    tenant = await make_tenant(app)
    wallet_id = await _funded_wallet(app, tenant, 10)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        debits = GroupedDebits(app.state.db)
        waiter = asyncio.create_task(
            debits.debit(
                org_id=tenant.org_id, wallet_id=wallet_id, amount=50, posting=_posting("c1")
            )
        )
        await asyncio.sleep(0)  # queued
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await debits.close()  # the refusal is set on the abandoned future
        del waiter
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert [c for c in reported if "never retrieved" in str(c.get("message"))] == []


async def test_callers_holding_every_request_connection_still_get_their_debits(
    app: FastAPI, stack: str
) -> None:
    """Callers (status callbacks) hold their own connection while they wait for their
    group; the group's transaction takes a connection from a pool of its own, so more
    waiting callers than the request pool holds (10 + 20 on PostgreSQL) all finish."""
    if stack != "postgresql":
        pytest.skip("the request pool's size is PostgreSQL's")
    tenant = await make_tenant(app)
    wallet_id = await _funded_wallet(app, tenant, 10_000)
    debits = GroupedDebits(app.state.db)

    async def caller(n: int) -> int:
        async with app.state.db.sessionmaker() as session:
            await session.execute(select(1))  # the caller's connection, held meanwhile
            entry = await debits.debit(
                org_id=tenant.org_id, wallet_id=wallet_id, amount=10, posting=_posting(f"c{n}")
            )
            await session.commit()
            return entry.amount

    amounts = await asyncio.wait_for(asyncio.gather(*(caller(n) for n in range(32))), 60)

    assert amounts == [10] * 32
    balance, chain, _ = await _books(app, tenant, wallet_id)
    assert balance == 10_000 - 320
    assert len(chain) == 32


async def test_a_grouped_debit_hands_back_its_entry_as_stored(app: FastAPI) -> None:
    """The entries a group hands back are built from the row values it inserts (not
    through the ORM constructor): every column reads as the stored row has it."""
    tenant = await make_tenant(app)
    wallet_id = await _funded_wallet(app, tenant, 1_000)
    debits = GroupedDebits(app.state.db)
    entries = await asyncio.gather(
        *(
            debits.debit(
                org_id=tenant.org_id, wallet_id=wallet_id, amount=amount, posting=_posting(key)
            )
            for amount, key in ((7, "stored:a"), (11, None))
        )
    )
    await debits.close()
    columns = [column.key for column in LedgerEntry.__table__.columns]
    async with app.state.db.sessionmaker() as session:
        for entry in entries:
            stored = await session.get(LedgerEntry, entry.id)
            assert stored is not None
            assert {c: getattr(entry, c) for c in columns} == {
                c: getattr(stored, c) for c in columns
            }
