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

A call's charge goes through here too (``capture_call``; from Twilio's status
callbacks and the simulator on PostgreSQL, see ``billing.service.charge_call``):
its share is worked out in the group against the wallet as it stands (package
minutes first, money for the rest, never more than the call's hold), the hold is
released in the same update, and its ledger row carries the key ``call:<id>``.

Each group commits in a session of its own, opened from ``database``: a caller's
debit is not part of the caller's transaction. It commits first, with its
``wallet.debited`` event; the caller's own writes (the call's cost, its events)
commit after. If the caller's transaction then fails, the retry finds the entry
by its idempotency key and gets it back: nothing is charged twice, and the hold
is not released twice. A caller must not hold the wallet's row lock itself while
it waits (its group would wait for that lock), and on SQLite, where a writer holds
the one write lock, it cannot wait for another session's commit at all: callers
there (and batch callers, whose one transaction already amortises the lock) debit
in their own transaction instead. ``GroupedDebits.of(database)`` is the
process's instance for a database.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import events
from commbase.billing.enums import LedgerStatus
from commbase.billing.holds import Hold, call_posting, capture_call, split_capture
from commbase.billing.ledger import Posting, entry_of, entry_payload, entry_values
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.postings import debit
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.errors import Conflict, NotFound, PaymentRequired
from commbase.core.ids import new_id
from commbase.core.literals import listed
from commbase.core.loaded import as_loaded
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.billing.grouped")

Outcome = LedgerEntry | None | BaseException
# A concurrent transaction elsewhere may write one of a batch's idempotency keys
# first (its row was not visible when the batch looked): the batch is tried again,
# then its debits go one by one.
ATTEMPTS = 3


@dataclass(frozen=True)
class _Capture:
    """A finished call's charge: what it pays is decided in the group."""

    call_id: str
    hold: Hold
    billable_minutes: int
    rate_per_minute: Decimal
    user_id: str | None
    agent_session_id: str | None


@dataclass
class _Debit:
    amount: int
    posting: Posting
    future: asyncio.Future[LedgerEntry | None] = field(repr=False)
    capture: _Capture | None = None


def _retrieve(future: asyncio.Future[LedgerEntry | None]) -> None:
    """Mark the outcome as seen: a caller cancelled while waiting never awaits it."""
    if not future.cancelled():
        future.exception()


def _refusal(wallet_id: str, amount: int) -> PaymentRequired:
    return PaymentRequired(
        "The wallet's available balance does not cover this debit",
        wallet_id=wallet_id,
        amount=amount,
    )


_INSTANCES: weakref.WeakKeyDictionary[Database, GroupedDebits] = weakref.WeakKeyDictionary()


class GroupedDebits:
    """Debits of one wallet from many concurrent callers, committed in groups."""

    def __init__(self, database: Database, *, max_batch: int = 256) -> None:
        self.database = database
        self.max_batch = max_batch
        self._queues: dict[tuple[str, str], list[_Debit]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def of(cls, database: Database) -> GroupedDebits:
        """The process's grouped debits for ``database`` (one per database, so that
        every caller's debits of a wallet can share a group)."""
        instance = _INSTANCES.get(database)
        if instance is None:
            instance = _INSTANCES[database] = cls(database)
        return instance

    async def debit(
        self, *, org_id: str, wallet_id: str, amount: int, posting: Posting
    ) -> LedgerEntry:
        """Take ``amount`` from the wallet once the group it joins has committed;
        ``PaymentRequired`` if the available balance does not cover it then,
        ``NotFound`` if the organization has no such wallet."""
        if amount < 0:
            raise ValueError("debit amounts are not negative")
        entry = await self._join(org_id, wallet_id, _Debit(amount, posting, self._future()))
        assert entry is not None
        return entry

    async def capture_call(
        self,
        *,
        org_id: str,
        wallet_id: str,
        call_id: str,
        hold: Hold,
        billable_minutes: int,
        rate_per_minute: Decimal,
        user_id: str | None,
        agent_session_id: str | None,
    ) -> LedgerEntry | None:
        """Charge a finished call as ``holds.capture_call`` does (package minutes
        first, money for the rest, never more than its hold; the hold released) once
        the group it joins has committed. A call already charged (key
        ``call:<call_id>``) gets its entry back and nothing changes. None: the call
        costs nothing and nothing was applied; the caller releases the hold itself
        (``holds.release_hold``, in its own transaction)."""
        capture = _Capture(
            call_id, hold, billable_minutes, rate_per_minute, user_id, agent_session_id
        )
        posting = Posting(type="debit", category="call_charge", idempotency_key=f"call:{call_id}")
        return await self._join(org_id, wallet_id, _Debit(0, posting, self._future(), capture))

    @staticmethod
    def _future() -> asyncio.Future[LedgerEntry | None]:
        future: asyncio.Future[LedgerEntry | None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        return future

    async def _join(self, org_id: str, wallet_id: str, pending: _Debit) -> LedgerEntry | None:
        key = (org_id, wallet_id)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = []
            task = asyncio.create_task(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append(pending)
        return await asyncio.shield(pending.future)

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
            async with self.database.own_pool()() as session:
                wallet = await _locked_wallet(session, org_id, wallet_id)
                entry = await _one(session, wallet, pending)
                await session.commit()
                return entry
        except Exception as exc:
            return exc

    async def _together(self, org_id: str, wallet_id: str, batch: list[_Debit]) -> list[Outcome]:
        async with self.database.own_pool()() as session:
            wallet = await _locked_wallet(session, org_id, wallet_id)
            if wallet.auto_recharge:
                outcomes = await _one_by_one(session, wallet, batch)
            else:
                outcomes = await _in_one_go(session, wallet, batch)
            await session.commit()
            return outcomes


# Built once: building a group's statements cost more CPU than their round trips.
_LOCK_WALLET = (
    select(Wallet)
    .where(Wallet.org_id == bindparam("org_id"), Wallet.id == bindparam("wallet_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
# A batch's keys (``core.literals.listed``: on PostgreSQL one statement text, and
# prepared statement, whatever the batch's size).
_KNOWN_ENTRIES = select(LedgerEntry).where(listed(LedgerEntry.idempotency_key, "keys"))
_WALLETS: Table = Wallet.__table__  # type: ignore[assignment]
_LEDGER: Table = LedgerEntry.__table__  # type: ignore[assignment]
_MOVED = ("balance", "held", "balance_minutes", "held_minutes", "updated_at", "last_transaction_id")
_MOVE_WALLET = (
    update(_WALLETS)
    .where(_WALLETS.c.id == bindparam("wallet_id"))
    .values({name: bindparam(f"b_{name}") for name in _MOVED})
)
_INSERT_ENTRIES = insert(_LEDGER)


async def _locked_wallet(session: AsyncSession, org_id: str, wallet_id: str) -> Wallet:
    wallet = await session.scalar(_LOCK_WALLET, {"org_id": org_id, "wallet_id": wallet_id})
    if wallet is None:
        raise NotFound("Wallet not found")
    return wallet


async def _one(session: AsyncSession, wallet: Wallet, pending: _Debit) -> LedgerEntry | None:
    """One debit or capture through the one-at-a-time path, on the locked wallet."""
    capture = pending.capture
    if capture is None:
        return await debit(session, wallet=wallet, amount=pending.amount, posting=pending.posting)
    amount, package = _split(wallet, capture, wallet.balance_minutes - wallet.held_minutes)
    if amount == 0 and package == 0:
        return None  # nothing applied: the caller releases the hold
    return await capture_call(
        session,
        wallet=wallet,
        call_id=capture.call_id,
        hold=capture.hold,
        billable_minutes=capture.billable_minutes,
        rate_per_minute=capture.rate_per_minute,
        user_id=capture.user_id,
        agent_session_id=capture.agent_session_id,
    )


def _split(wallet: Wallet, capture: _Capture, free_minutes: int) -> tuple[int, int]:
    return split_capture(
        free_minutes=max(0, free_minutes),
        hold=capture.hold,
        billable_minutes=capture.billable_minutes,
        rate_per_minute=capture.rate_per_minute,
        currency=wallet.currency,
    )


async def _one_by_one(session: AsyncSession, wallet: Wallet, batch: list[_Debit]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for pending in batch:
        try:
            outcomes.append(await _one(session, wallet, pending))
        except PaymentRequired as refusal:
            outcomes.append(refusal)
    return outcomes


async def _in_one_go(session: AsyncSession, wallet: Wallet, batch: list[_Debit]) -> list[Outcome]:
    keys = [d.posting.idempotency_key for d in batch if d.posting.idempotency_key]
    known: dict[str, LedgerEntry] = {}
    foreign: dict[str, Conflict] = {}
    if keys:
        rows = await session.scalars(_KNOWN_ENTRIES, {"keys": keys})
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
    balance, held = wallet.balance, wallet.held
    minutes, held_minutes = wallet.balance_minutes, wallet.held_minutes
    outcomes: list[Outcome] = []
    written: list[LedgerEntry] = []
    new_rows: list[dict[str, Any]] = []
    for pending in batch:
        key = pending.posting.idempotency_key
        if key is not None and key in known:
            outcomes.append(known[key])
            continue
        if key is not None and key in foreign:
            outcomes.append(foreign[key])
            continue
        posting, amount, package, hold = pending.posting, pending.amount, 0, Hold(0, 0, 0)
        if (capture := pending.capture) is not None:
            hold = capture.hold
            amount, package = _split(wallet, capture, minutes - held_minutes)
            if amount == 0 and package == 0:
                outcomes.append(None)  # nothing applied: the caller releases the hold
                continue
            posting = replace(
                call_posting(
                    call_id=capture.call_id,
                    billable_minutes=capture.billable_minutes,
                    package_minutes=package,
                    rate_per_minute=capture.rate_per_minute,
                    currency=wallet.currency,
                    user_id=capture.user_id,
                    agent_session_id=capture.agent_session_id,
                ),
                idempotency_key=key,
            )
        if (
            amount - hold.amount > balance - held
            or package - hold.minutes > minutes - held_minutes
            or hold.amount > held
            or hold.minutes > held_minutes
        ):
            outcomes.append(_refusal(wallet.id, amount))
            continue
        values = entry_values(
            entry_id=new_id("txn"),
            wallet=wallet,
            posting=posting,
            status=LedgerStatus.COMPLETED,
            amount=amount,
            minutes=package,
            balance_after=balance - amount,
            minutes_after=minutes - package,
            amount_delta=-amount,
            minutes_delta=-package,
            now=now,
        )
        values.update(refunded_amount=0, refunded_minutes=0, error_code=None, error_message=None)
        entry = as_loaded(LedgerEntry, values)  # as if loaded once written
        new_rows.append(values)
        balance -= amount
        minutes -= package
        held -= hold.amount
        held_minutes -= hold.minutes
        written.append(entry)
        outcomes.append(entry)
        if key is not None:
            known[key] = entry
    if not written:
        return outcomes
    before = wallet.balance
    await session.execute(
        _MOVE_WALLET,
        {
            "wallet_id": wallet.id,
            "b_balance": balance,
            "b_held": held,
            "b_balance_minutes": minutes,
            "b_held_minutes": held_minutes,
            "b_updated_at": now,
            "b_last_transaction_id": written[-1].id,
        },
    )
    # The rows in one go, on the table; the entries handed back stay outside the session.
    await session.execute(_INSERT_ENTRIES, new_rows)
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
