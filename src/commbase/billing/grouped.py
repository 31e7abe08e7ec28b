"""Group commit of concurrent debits to one wallet.

A debit that commits on its own keeps the wallet's row locked through its
commit's WAL flush, so one wallet takes at most one debit per flush however many
clients charge it (the bench's ``hot_row_ceiling_per_s``). ``GroupedDebits``
lets the debits of one wallet that arrive while a transaction of that wallet is
in flight share the next transaction: the wallet row is locked once, every debit
is decided in order against the available balance (one that would overdraw is
refused with ``PaymentRequired``, the others still apply), the balance changes
once by the total, and the ledger rows and ``wallet.debited`` events are written
in one statement each. Each caller gets its own ledger entry (or its refusal)
once that transaction has committed; a failed transaction fails every debit in it.

The books are the same as with ``postings.debit``: one ledger row per debit with
``balance_before -> balance_after`` chaining, idempotency keys honoured (an entry
already written with the key is returned instead of a new debit, including a key
repeated within one batch), the low-balance warning when a debit crosses the
threshold. A wallet with automatic recharge is debited one by one through
``postings.debit`` (a recharge changes the balance between debits) in the shared
transaction. Grouping is per process; debits from other processes queue on the
row lock as before.

A caller that is cancelled while waiting does not cancel its debit: it may
still be applied (as a request whose client hung up after the commit). Its
outcome, a refusal or error included, is then retrieved here, so nothing logs
"Future exception was never retrieved".

An idempotency key is looked up on this wallet's entries only; a key found on
another wallet's entry (the ledger's unique index is global) is a ``Conflict``.

Not wired into the app: no route or worker debits through ``GroupedDebits`` yet
(calls, messages and ``POST /v1/billing/...`` charge through ``postings.debit`` in
the request's own transaction). It is used by the bench and its tests. Each group
commits in a session of its own, opened from ``database``: a caller's debit is
not part of the caller's transaction (the caller's other writes do not commit or
roll back with it), which a route adopting it has to account for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import events
from commbase.billing.enums import LedgerStatus
from commbase.billing.ledger import Posting, entry_of, entry_payload, new_entry
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.postings import debit
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.errors import Conflict, NotFound, PaymentRequired
from commbase.core.ids import new_id
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.billing.grouped")

Outcome = LedgerEntry | BaseException
# A concurrent transaction elsewhere may write one of a batch's idempotency keys
# first (its row was not visible when the batch looked): the batch is tried again,
# then its debits go one by one.
ATTEMPTS = 3


@dataclass
class _Debit:
    amount: int
    posting: Posting
    future: asyncio.Future[LedgerEntry] = field(repr=False)


def _retrieve(future: asyncio.Future[LedgerEntry]) -> None:
    """Mark the outcome as seen: a caller cancelled while waiting never awaits it."""
    if not future.cancelled():
        future.exception()


def _refusal(wallet_id: str, amount: int) -> PaymentRequired:
    return PaymentRequired(
        "The wallet's available balance does not cover this debit",
        wallet_id=wallet_id,
        amount=amount,
    )


class GroupedDebits:
    """Debits of one wallet from many concurrent callers, committed in groups."""

    def __init__(self, database: Database, *, max_batch: int = 256) -> None:
        self.database = database
        self.max_batch = max_batch
        self._queues: dict[tuple[str, str], list[_Debit]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def debit(
        self, *, org_id: str, wallet_id: str, amount: int, posting: Posting
    ) -> LedgerEntry:
        """Take ``amount`` from the wallet once the group it joins has committed;
        ``PaymentRequired`` if the available balance does not cover it then,
        ``NotFound`` if the organization has no such wallet."""
        if amount < 0:
            raise ValueError("debit amounts are not negative")
        future: asyncio.Future[LedgerEntry] = asyncio.get_running_loop().create_future()
        key = (org_id, wallet_id)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = []
            task = asyncio.create_task(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        future.add_done_callback(_retrieve)
        queue.append(_Debit(amount, posting, future))
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Wait until every debit handed in so far is settled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _drain(self, key: tuple[str, str]) -> None:
        queue = self._queues[key]
        batch: list[_Debit] = []
        try:
            while queue:
                batch = queue[: self.max_batch]
                del queue[: self.max_batch]
                await self._settle(key, batch)
        finally:
            # No await between the emptiness check and this: a debit that arrives
            # later starts a new drain.
            del self._queues[key]
            for pending in [*batch, *queue]:
                if not pending.future.done():
                    pending.future.set_exception(RuntimeError("wallet debits stopped"))

    async def _settle(self, key: tuple[str, str], batch: list[_Debit]) -> None:
        org_id, wallet_id = key
        outcomes: list[Outcome] | None = None
        try:
            for _ in range(ATTEMPTS):
                try:
                    outcomes = await self._together(org_id, wallet_id, batch)
                    break
                except IntegrityError:
                    log.info("grouped debits met a concurrent key; trying again", size=len(batch))
            if outcomes is None:
                outcomes = [await self._alone(org_id, wallet_id, d) for d in batch]
        except Exception as exc:
            outcomes = [exc] * len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    async def _alone(self, org_id: str, wallet_id: str, pending: _Debit) -> Outcome:
        try:
            async with self.database.sessionmaker() as session:
                wallet = await _locked_wallet(session, org_id, wallet_id)
                entry = await debit(
                    session, wallet=wallet, amount=pending.amount, posting=pending.posting
                )
                await session.commit()
                return entry
        except Exception as exc:
            return exc

    async def _together(self, org_id: str, wallet_id: str, batch: list[_Debit]) -> list[Outcome]:
        async with self.database.sessionmaker() as session:
            wallet = await _locked_wallet(session, org_id, wallet_id)
            if wallet.auto_recharge:
                outcomes = await _one_by_one(session, wallet, batch)
            else:
                outcomes = await _in_one_go(session, wallet, batch)
            await session.commit()
            return outcomes


def _row(entry: LedgerEntry) -> dict[str, Any]:
    """The column values a new entry was built with."""
    return {name: value for name, value in vars(entry).items() if not name.startswith("_")}


async def _locked_wallet(session: AsyncSession, org_id: str, wallet_id: str) -> Wallet:
    wallet = await session.scalar(
        select(Wallet)
        .where(Wallet.org_id == org_id, Wallet.id == wallet_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if wallet is None:
        raise NotFound("Wallet not found")
    return wallet


async def _one_by_one(session: AsyncSession, wallet: Wallet, batch: list[_Debit]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for pending in batch:
        try:
            outcomes.append(
                await debit(session, wallet=wallet, amount=pending.amount, posting=pending.posting)
            )
        except PaymentRequired as refusal:
            outcomes.append(refusal)
    return outcomes


async def _in_one_go(session: AsyncSession, wallet: Wallet, batch: list[_Debit]) -> list[Outcome]:
    keys = [d.posting.idempotency_key for d in batch if d.posting.idempotency_key]
    known: dict[str, LedgerEntry] = {}
    foreign: dict[str, Conflict] = {}
    if keys:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.idempotency_key.in_(keys))
        )
        # The unique index on the key is global: a key on another wallet's entry is a
        # conflict for that debit, never that entry handed back as this one.
        for entry in rows:
            if entry.idempotency_key is None:
                continue
            try:
                entry_of(wallet, entry)
            except Conflict as conflict:
                foreign[entry.idempotency_key] = conflict
            else:
                known[entry.idempotency_key] = entry
    now = utcnow()
    balance, available = wallet.balance, wallet.balance - wallet.held
    outcomes: list[Outcome] = []
    written: list[LedgerEntry] = []
    for pending in batch:
        key = pending.posting.idempotency_key
        if key is not None and key in known:
            outcomes.append(known[key])
            continue
        if key is not None and key in foreign:
            outcomes.append(foreign[key])
            continue
        if pending.amount > available:
            outcomes.append(_refusal(wallet.id, pending.amount))
            continue
        entry = new_entry(
            entry_id=new_id("txn"),
            wallet=wallet,
            posting=pending.posting,
            status=LedgerStatus.COMPLETED,
            amount=pending.amount,
            minutes=0,
            balance_after=balance - pending.amount,
            minutes_after=wallet.balance_minutes,
            amount_delta=-pending.amount,
            minutes_delta=0,
            now=now,
        )
        entry.refunded_amount = entry.refunded_minutes = 0
        balance -= pending.amount
        available -= pending.amount
        written.append(entry)
        outcomes.append(entry)
        if key is not None:
            known[key] = entry
    if not written:
        return outcomes
    before = wallet.balance
    await session.execute(
        update(Wallet)
        .where(Wallet.id == wallet.id)
        .values(balance=balance, updated_at=now, last_transaction_id=written[-1].id)
        .execution_options(synchronize_session=False)
    )
    # One multi-row INSERT; the entries handed back stay outside the session.
    await session.execute(insert(LedgerEntry), [_row(entry) for entry in written])
    await outbox.record_many(
        session, events.WALLET_DEBITED, [entry_payload(e) for e in written], org_id=wallet.org_id
    )
    threshold = wallet.low_balance_threshold
    if threshold is not None and balance < threshold <= before:
        # Balances only fall within a batch: exactly one debit crossed it.
        crossing = next(e for e in written if e.balance_after < threshold <= e.balance_before)
        await outbox.record(
            session,
            events.WALLET_LOW_BALANCE,
            {
                "wallet_id": wallet.id,
                "balance": crossing.balance_after,
                "threshold": threshold,
                "currency": wallet.currency,
            },
            org_id=wallet.org_id,
        )
    return outcomes
