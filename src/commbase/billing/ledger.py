"""The append-only ledger: every balance change is one conditional ``UPDATE ...
RETURNING`` on the wallet row plus one ledger row, in the caller's transaction.

* the database applies the arithmetic, so concurrent writers never lose an update;
* the ``WHERE`` clause and the table's CHECK constraints keep ``balance >= held >= 0``,
  so a balance never goes negative;
* a unique ``idempotency_key`` on the ledger makes a retried credit or charge a no-op.
  The index is global (not per tenant): a key found on another wallet's entry (of this
  organization or another) is a ``Conflict``, never handed back as this wallet's entry.

Credits and debits with what follows them are in ``postings.py``; provider
payments not settled yet in ``pending.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import events
from commbase.billing.enums import (
    LedgerStatus,
    LedgerType,
)
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core import outbox
from commbase.core.errors import Conflict, IdempotencyKeyReused, NotFound
from commbase.core.ids import new_id
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow


@dataclass(frozen=True)
class Posting:
    """What to write to the ledger besides the amounts."""

    type: str
    category: str
    idempotency_key: str | None = None
    related_call_id: str | None = None
    user_id: str | None = None
    agent_session_id: str | None = None
    payment_method: str | None = None
    provider_transaction_id: str | None = None
    plan: str | None = None
    description: str | None = None
    details: dict[str, Any] | None = None
    refund_of: str | None = None


class DuplicatePosting(Exception):
    """The idempotency key was already used; ``entry`` is the row written with it."""

    def __init__(self, entry: LedgerEntry) -> None:
        super().__init__(entry.id)
        self.entry = entry


# The ledger's hot statements are built once: building and keying a statement
# costs more CPU than running it, and every posting runs these.
_ENTRY_BY_KEY = select(LedgerEntry).where(LedgerEntry.idempotency_key == bindparam("key"))

# One UPDATE applies the change, points last_transaction_id at the new entry and
# returns the row, refreshing the caller's ``wallet`` in the same round trip.
APPLY = (
    update(Wallet)
    .where(Wallet.id == bindparam("wallet_id"))
    .values(
        balance=Wallet.balance + bindparam("amount_delta"),
        held=Wallet.held + bindparam("held_delta"),
        balance_minutes=Wallet.balance_minutes + bindparam("minutes_delta"),
        held_minutes=Wallet.held_minutes + bindparam("held_minutes_delta"),
        updated_at=bindparam("now"),
        last_transaction_id=bindparam("entry_id"),
    )
    .returning(Wallet)
    .execution_options(synchronize_session=False, populate_existing=True)
)
# ... only while the funds are there.
APPLY_IF_AVAILABLE = APPLY.where(
    Wallet.balance - Wallet.held >= bindparam("require_available"),
    Wallet.balance_minutes - Wallet.held_minutes >= bindparam("require_minutes"),
)


async def existing_entry(session: AsyncSession, key: str | None) -> LedgerEntry | None:
    if key is None:
        return None
    return await session.scalar(_ENTRY_BY_KEY, {"key": key})


async def wallet_entry(
    session: AsyncSession, key: str | None, wallet: Wallet
) -> LedgerEntry | None:
    """The entry written with ``key`` for ``wallet``; None if there is none;
    ``Conflict`` if the key is on another wallet's entry (the unique index is global)."""
    return entry_of(wallet, await existing_entry(session, key))


async def request_entry(
    session: AsyncSession, key: str | None, *, wallet: Wallet
) -> LedgerEntry | None:
    """The entry a request with ``key`` already wrote on ``wallet`` (for the caller to
    compare with what is asked now), or None if the key is unused. A key held by
    another wallet's entry -- of this organization or another -- is that of another
    request: ``IdempotencyKeyReused`` (422), naming no entry of another wallet."""
    entry = await existing_entry(session, key)
    if entry is not None and (entry.org_id != wallet.org_id or entry.wallet_id != wallet.id):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was first used for a request on another wallet; use a new key"
        )
    return entry


def entry_of(wallet: Wallet, entry: LedgerEntry | None) -> LedgerEntry | None:
    """``entry`` if it is ``wallet``'s (or None); ``Conflict`` if it is another's."""
    if entry is not None and (entry.org_id != wallet.org_id or entry.wallet_id != wallet.id):
        raise Conflict("This idempotency key was already used for another ledger entry")
    return entry


def _receipt_number(now: datetime) -> str:
    return f"R-{now:%Y%m%d}-{new_id('r')[-8:].upper()}"


def entry_values(
    *,
    entry_id: str,
    wallet: Wallet,
    posting: Posting,
    status: str,
    amount: int,
    minutes: int,
    balance_after: int,
    minutes_after: int,
    amount_delta: int,
    minutes_delta: int,
    now: datetime,
) -> dict[str, Any]:
    """The column values of a new ledger entry: ``LedgerEntry(**entry_values(...))``, or
    a row of a multi-row insert."""
    return dict(
        id=entry_id,
        org_id=wallet.org_id,
        wallet_id=wallet.id,
        type=posting.type,
        category=posting.category,
        status=status,
        amount=amount,
        minutes=minutes,
        currency=wallet.currency,
        balance_before=balance_after - amount_delta,
        balance_after=balance_after,
        minutes_before=minutes_after - minutes_delta,
        minutes_after=minutes_after,
        related_call_id=posting.related_call_id,
        user_id=posting.user_id,
        agent_session_id=posting.agent_session_id,
        payment_method=posting.payment_method,
        provider_transaction_id=posting.provider_transaction_id,
        plan=posting.plan,
        idempotency_key=posting.idempotency_key,
        refund_of=posting.refund_of,
        description=posting.description,
        details=posting.details or {},
        receipt_number=_receipt_number(now),
        created_at=now,
        completed_at=now if status == LedgerStatus.COMPLETED else None,
    )


async def post(
    session: AsyncSession,
    *,
    wallet: Wallet,
    amount_delta: int,
    minutes_delta: int,
    held_delta: int = 0,
    held_minutes_delta: int = 0,
    require_available: int | None = None,
    require_minutes: int | None = None,
    posting: Posting,
    raise_on_duplicate: bool = False,
) -> LedgerEntry | None:
    """Apply one balance change and its ledger row; None if the funds are not there.

    ``require_available`` / ``require_minutes``: the change applies only while the
    wallet's available money / package minutes are at least these. Runs in a
    savepoint so that a duplicate idempotency key undoes the balance change too,
    and the entry written first is returned (or raised as DuplicatePosting).

    The wallet row stays locked from its ``UPDATE`` until the caller commits, so
    every writer of the wallet queues behind the round trips after it: keep them few.
    """
    existing = await wallet_entry(session, posting.idempotency_key, wallet)
    if existing is not None:
        if raise_on_duplicate:
            raise DuplicatePosting(existing)
        return existing
    now = utcnow()
    entry_id = new_id("txn")
    try:
        async with session.begin_nested():
            params: dict[str, Any] = {
                "wallet_id": wallet.id,
                "amount_delta": amount_delta,
                "held_delta": held_delta,
                "minutes_delta": minutes_delta,
                "held_minutes_delta": held_minutes_delta,
                "now": now,
                "entry_id": entry_id,
            }
            statement = APPLY
            if require_available is not None or require_minutes is not None:
                statement = APPLY_IF_AVAILABLE
                params["require_available"] = require_available or 0
                params["require_minutes"] = (
                    max(0, -minutes_delta) if require_minutes is None else require_minutes
                )
            updated = (await session.scalars(statement, params)).first()
            if updated is None:
                return None
            entry = LedgerEntry(
                **entry_values(
                    entry_id=entry_id,
                    wallet=wallet,
                    posting=posting,
                    status=LedgerStatus.COMPLETED,
                    amount=abs(amount_delta),
                    minutes=abs(minutes_delta),
                    balance_after=updated.balance,
                    minutes_after=updated.balance_minutes,
                    amount_delta=amount_delta,
                    minutes_delta=minutes_delta,
                    now=now,
                )
            )
            session.add(entry)
            await session.flush()
    except IntegrityError:
        # Another transaction posted the same idempotency key first; the savepoint
        # took the balance change back, so show the wallet as it really is.
        await session.refresh(wallet)
        duplicate = await wallet_entry(session, posting.idempotency_key, wallet)
        if duplicate is None:
            raise
        if raise_on_duplicate:
            raise DuplicatePosting(duplicate) from None
        return duplicate
    if updated is not wallet:
        # ``wallet`` came from elsewhere than this session's identity map.
        await session.refresh(wallet)
    return entry


async def after_credit(session: AsyncSession, *, wallet: Wallet, entry: LedgerEntry) -> None:
    if entry.type == LedgerType.REFUND:
        await outbox.record(
            session, events.WALLET_REFUNDED, entry_payload(entry), org_id=wallet.org_id
        )
        return
    await outbox.record(session, events.WALLET_CREDITED, entry_payload(entry), org_id=wallet.org_id)
    if (entry.details or {}).get("auto_recharge"):
        await outbox.record(
            session, events.WALLET_RECHARGED, entry_payload(entry), org_id=wallet.org_id
        )


def entry_payload(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "wallet_id": entry.wallet_id,
        "type": entry.type,
        "category": entry.category,
        "status": entry.status,
        "amount": entry.amount,
        "minutes": entry.minutes,
        "currency": entry.currency,
        "balance_after": entry.balance_after,
        "related_call_id": entry.related_call_id,
        "refund_of": entry.refund_of,
    }


# ---------------------------------------------------------------------- queries


async def list_entries(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    wallet_id: str | None = None,
    type_: str | None = None,
    category: str | None = None,
    status: str | None = None,
    related_call_id: str | None = None,
    refund_of: str | None = None,
) -> tuple[Sequence[LedgerEntry], str | None]:
    statement = select(LedgerEntry).where(LedgerEntry.org_id == org_id)
    if wallet_id:
        statement = statement.where(LedgerEntry.wallet_id == wallet_id)
    if type_:
        statement = statement.where(LedgerEntry.type == type_)
    if category:
        statement = statement.where(LedgerEntry.category == category)
    if status:
        statement = statement.where(LedgerEntry.status == status)
    if related_call_id:
        statement = statement.where(LedgerEntry.related_call_id == related_call_id)
    if refund_of:
        statement = statement.where(LedgerEntry.refund_of == refund_of)
    return await paginate(session, statement, id_column=LedgerEntry.id, params=params)


async def find_entry(session: AsyncSession, *, org_id: str, entry_id: str) -> LedgerEntry | None:
    return await session.scalar(
        select(LedgerEntry)
        .where(LedgerEntry.org_id == org_id, LedgerEntry.id == entry_id)
        .execution_options(populate_existing=True)
    )


async def get_entry(session: AsyncSession, *, org_id: str, entry_id: str) -> LedgerEntry:
    entry = await find_entry(session, org_id=org_id, entry_id=entry_id)
    if entry is None:
        raise NotFound("Transaction not found")
    return entry


async def spent_since(
    session: AsyncSession,
    *,
    org_id: str,
    since: datetime,
    user_id: str | None = None,
    wallet_id: str | None = None,
) -> int:
    """Money debited since ``since``, by a user or from a wallet."""
    statement = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.org_id == org_id,
        LedgerEntry.type == LedgerType.DEBIT,
        LedgerEntry.created_at >= since,
    )
    if user_id:
        statement = statement.where(LedgerEntry.user_id == user_id)
    if wallet_id:
        statement = statement.where(LedgerEntry.wallet_id == wallet_id)
    return int(await session.scalar(statement) or 0)


async def anonymise_call_reference(session: AsyncSession, *, org_id: str, call_id: str) -> str:
    """Replace a call id on its ledger rows with an anonymous reference; returns it."""
    reference = new_id("anon")
    await session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.org_id == org_id, LedgerEntry.related_call_id == call_id)
        .values(related_call_id=reference, description=None)
        .execution_options(synchronize_session=False)
    )
    return reference
