"""Wallets and the append-only ledger.

Every balance change is one conditional ``UPDATE ... RETURNING`` on the wallet
row plus one ledger row, in the caller's transaction:

* the database applies the arithmetic, so concurrent writers never lose an update;
* the ``WHERE`` clause and the table's CHECK constraints keep ``balance >= held >= 0``,
  so a balance never goes negative;
* a unique ``idempotency_key`` on the ledger makes a retried credit or charge a no-op.

Calls reserve funds when they are placed (``hold``) and settle when they end
(``capture``): a call can never cost more than was held for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import events
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core import outbox
from commbase.core.errors import AlreadyExists, NotFound, PaymentRequired
from commbase.core.ids import new_id
from commbase.core.money import cost_of, minutes_affordable
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow

OWNER_TYPES = ("organization", "user", "agent_session")


# ---------------------------------------------------------------------- wallets


async def create_wallet(
    session: AsyncSession,
    *,
    org_id: str,
    owner_type: str,
    owner_id: str,
    currency: str,
    settings: dict[str, Any] | None = None,
) -> Wallet:
    existing = await find_wallet(session, org_id=org_id, owner_type=owner_type, owner_id=owner_id)
    if existing is not None:
        raise AlreadyExists(f"This {owner_type} already has a wallet", wallet_id=existing.id)
    wallet = Wallet(
        org_id=org_id,
        owner_type=owner_type,
        owner_id=owner_id,
        currency=currency,
        **(settings or {}),
    )
    session.add(wallet)
    await session.flush()
    return wallet


async def find_wallet(
    session: AsyncSession, *, org_id: str, owner_type: str, owner_id: str
) -> Wallet | None:
    return await session.scalar(
        select(Wallet).where(
            Wallet.org_id == org_id, Wallet.owner_type == owner_type, Wallet.owner_id == owner_id
        )
    )


async def get_wallet(
    session: AsyncSession, *, org_id: str, wallet_id: str, for_update: bool = False
) -> Wallet:
    statement = select(Wallet).where(Wallet.org_id == org_id, Wallet.id == wallet_id)
    if for_update:
        statement = statement.with_for_update()
    wallet = await session.scalar(statement)
    if wallet is None:
        raise NotFound("Wallet not found")
    return wallet


async def list_wallets(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    owner_type: str | None = None,
    owner_id: str | None = None,
) -> tuple[Sequence[Wallet], str | None]:
    statement = select(Wallet).where(Wallet.org_id == org_id)
    if owner_type:
        statement = statement.where(Wallet.owner_type == owner_type)
    if owner_id:
        statement = statement.where(Wallet.owner_id == owner_id)
    return await paginate(session, statement, id_column=Wallet.id, params=params)


async def payer_wallet(
    session: AsyncSession,
    *,
    org_id: str,
    user_id: str | None,
    agent_session_id: str | None,
) -> Wallet | None:
    """Who pays for a call: the agent session's own wallet, else the user's, else the
    organization's."""
    for owner_type, owner_id in (
        ("agent_session", agent_session_id),
        ("user", user_id),
        ("organization", org_id),
    ):
        if owner_id:
            wallet = await find_wallet(
                session, org_id=org_id, owner_type=owner_type, owner_id=owner_id
            )
            if wallet is not None and wallet.status == "active":
                return wallet
    return None


# ----------------------------------------------------------------------- ledger


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


# The ledger's hot statements are built once: building and keying a statement
# costs more CPU than running it, and every posting runs these.
_ENTRY_BY_KEY = select(LedgerEntry).where(LedgerEntry.idempotency_key == bindparam("key"))

# One UPDATE applies the change, points last_transaction_id at the new entry and
# returns the row, refreshing the caller's ``wallet`` in the same round trip.
_APPLY = (
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
_APPLY_IF_AVAILABLE = _APPLY.where(
    Wallet.balance - Wallet.held >= bindparam("require_available"),
    Wallet.balance_minutes - Wallet.held_minutes >= bindparam("require_minutes"),
)


async def _existing_entry(session: AsyncSession, key: str | None) -> LedgerEntry | None:
    if key is None:
        return None
    return await session.scalar(_ENTRY_BY_KEY, {"key": key})


async def _post(
    session: AsyncSession,
    *,
    wallet: Wallet,
    amount_delta: int,
    minutes_delta: int,
    held_delta: int = 0,
    held_minutes_delta: int = 0,
    require_available: int | None = None,
    posting: Posting,
) -> LedgerEntry | None:
    """Apply one balance change and its ledger row; None if the funds are not there.

    Runs in a savepoint so that a duplicate idempotency key undoes the balance
    change too, and the entry written first is returned instead.

    The wallet row stays locked from its ``UPDATE`` until the caller commits, so
    every writer of the wallet queues behind the round trips after it: keep them few.
    """
    existing = await _existing_entry(session, posting.idempotency_key)
    if existing is not None:
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
            statement = _APPLY
            if require_available is not None:
                statement = _APPLY_IF_AVAILABLE
                params["require_available"] = require_available
                params["require_minutes"] = max(0, -minutes_delta)
            updated = (await session.scalars(statement, params)).first()
            if updated is None:
                return None
            balance_after, minutes_after = updated.balance, updated.balance_minutes
            entry = LedgerEntry(
                id=entry_id,
                org_id=wallet.org_id,
                wallet_id=wallet.id,
                type=posting.type,
                category=posting.category,
                status="completed",
                amount=abs(amount_delta),
                minutes=abs(minutes_delta),
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
                description=posting.description,
                details=posting.details or {},
                receipt_number=f"R-{now:%Y%m%d}-{new_id('r')[-8:].upper()}",
                created_at=now,
                completed_at=now,
            )
            session.add(entry)
            await session.flush()
    except IntegrityError:
        # Another transaction posted the same idempotency key first; the savepoint
        # took the balance change back, so show the wallet as it really is.
        await session.refresh(wallet)
        duplicate = await _existing_entry(session, posting.idempotency_key)
        if duplicate is None:
            raise
        return duplicate
    if updated is not wallet:
        # ``wallet`` came from elsewhere than this session's identity map.
        await session.refresh(wallet)
    return entry


async def credit(
    session: AsyncSession,
    *,
    wallet: Wallet,
    amount: int,
    minutes: int = 0,
    posting: Posting,
) -> LedgerEntry:
    """Add money (and package minutes) to a wallet, once per idempotency key."""
    if amount < 0 or minutes < 0:
        raise ValueError("credit amounts are not negative")
    entry = await _post(
        session, wallet=wallet, amount_delta=amount, minutes_delta=minutes, posting=posting
    )
    assert entry is not None
    await outbox.record(
        session,
        events.WALLET_CREDITED,
        _entry_payload(entry),
        org_id=wallet.org_id,
    )
    if (posting.details or {}).get("auto_recharge"):
        await outbox.record(
            session, events.WALLET_RECHARGED, _entry_payload(entry), org_id=wallet.org_id
        )
    return entry


async def debit(
    session: AsyncSession,
    *,
    wallet: Wallet,
    amount: int,
    minutes: int = 0,
    posting: Posting,
) -> LedgerEntry:
    """Take money from the wallet's available balance; PaymentRequired if it is short."""
    if amount < 0 or minutes < 0:
        raise ValueError("debit amounts are not negative")
    entry = await _post(
        session,
        wallet=wallet,
        amount_delta=-amount,
        minutes_delta=-minutes,
        require_available=amount,
        posting=posting,
    )
    if entry is None:
        raise PaymentRequired(
            "The wallet's available balance does not cover this debit",
            wallet_id=wallet.id,
            amount=amount,
        )
    await _after_spend(session, wallet=wallet, entry=entry)
    return entry


# ------------------------------------------------------------------ call holds


@dataclass(frozen=True)
class Hold:
    amount: int  # minor units reserved
    minutes: int  # package minutes reserved
    allowed_minutes: int  # how long the call may run


async def hold_for_call(
    session: AsyncSession,
    *,
    wallet: Wallet,
    rate_per_minute: Decimal,
    max_minutes: int,
) -> Hold:
    """Reserve what a call of up to ``max_minutes`` may cost, capped by what the wallet
    holds; PaymentRequired unless at least one minute is covered."""
    for _ in range(5):
        await session.refresh(wallet)
        free_minutes = wallet.balance_minutes - wallet.held_minutes
        free_money = wallet.balance - wallet.held
        package = min(max(0, free_minutes), max_minutes)
        paid = min(
            minutes_affordable(max(0, free_money), rate_per_minute, wallet.currency),
            max_minutes - package,
        )
        if package + paid < 1:
            raise PaymentRequired(
                f"The wallet does not cover one minute at {rate_per_minute} {wallet.currency}/min",
                wallet_id=wallet.id,
                available=max(0, free_money),
            )
        amount = cost_of(paid, rate_per_minute, wallet.currency)
        # RETURNING the row refreshes ``wallet`` in the same round trip.
        held = (
            await session.scalars(
                update(Wallet)
                .where(
                    Wallet.id == wallet.id,
                    Wallet.balance - Wallet.held >= amount,
                    Wallet.balance_minutes - Wallet.held_minutes >= package,
                )
                .values(held=Wallet.held + amount, held_minutes=Wallet.held_minutes + package)
                .returning(Wallet)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        ).first()
        if held is not None:
            if held is not wallet:
                await session.refresh(wallet)
            return Hold(amount=amount, minutes=package, allowed_minutes=package + paid)
    raise PaymentRequired("The wallet is busy; retry", wallet_id=wallet.id)


async def capture_call(
    session: AsyncSession,
    *,
    wallet: Wallet,
    call_id: str,
    hold: Hold,
    billable_minutes: int,
    rate_per_minute: Decimal,
    user_id: str | None,
    agent_session_id: str | None,
) -> LedgerEntry | None:
    """Settle a finished call: charge what it used (never more than its hold) and
    release the rest. Returns the charge, or None for a call that cost nothing."""
    package_used = min(billable_minutes, hold.minutes)
    paid_minutes = billable_minutes - package_used
    amount = min(cost_of(paid_minutes, rate_per_minute, wallet.currency), hold.amount)
    if amount == 0 and package_used == 0:
        await session.execute(
            update(Wallet)
            .where(Wallet.id == wallet.id)
            .values(held=Wallet.held - hold.amount, held_minutes=Wallet.held_minutes - hold.minutes)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(wallet)
        return None
    entry = await _post(
        session,
        wallet=wallet,
        amount_delta=-amount,
        minutes_delta=-package_used,
        held_delta=-hold.amount,
        held_minutes_delta=-hold.minutes,
        posting=Posting(
            type="debit",
            category="call_charge",
            idempotency_key=f"call:{call_id}",
            related_call_id=call_id,
            user_id=user_id,
            agent_session_id=agent_session_id,
            description=f"{billable_minutes} min at {rate_per_minute} {wallet.currency}/min",
            details={
                "billable_minutes": billable_minutes,
                "package_minutes": package_used,
                "rate_per_minute": str(rate_per_minute),
            },
        ),
    )
    assert entry is not None
    await _after_spend(session, wallet=wallet, entry=entry)
    return entry


async def release_hold(session: AsyncSession, *, wallet: Wallet, hold: Hold) -> None:
    """Give back a hold without charging (a call that never connected)."""
    await session.execute(
        update(Wallet)
        .where(Wallet.id == wallet.id)
        .values(held=Wallet.held - hold.amount, held_minutes=Wallet.held_minutes - hold.minutes)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(wallet)


# ------------------------------------------------------------ after spending


async def _after_spend(session: AsyncSession, *, wallet: Wallet, entry: LedgerEntry) -> None:
    await outbox.record(session, events.WALLET_DEBITED, _entry_payload(entry), org_id=wallet.org_id)
    threshold = wallet.low_balance_threshold
    if threshold is None and wallet.auto_recharge:
        threshold = wallet.auto_recharge_threshold
    if threshold is not None and entry.balance_after < threshold <= entry.balance_before:
        await outbox.record(
            session,
            events.WALLET_LOW_BALANCE,
            {
                "wallet_id": wallet.id,
                "balance": entry.balance_after,
                "threshold": threshold,
                "currency": wallet.currency,
            },
            org_id=wallet.org_id,
        )
    if (
        wallet.auto_recharge
        and wallet.auto_recharge_amount
        and wallet.auto_recharge_threshold is not None
        and entry.balance_after < wallet.auto_recharge_threshold
    ):
        from commbase.billing import payments  # payments builds on this module

        await payments.auto_recharge(session, wallet=wallet, trigger=entry)


def _entry_payload(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "wallet_id": entry.wallet_id,
        "type": entry.type,
        "category": entry.category,
        "amount": entry.amount,
        "minutes": entry.minutes,
        "currency": entry.currency,
        "balance_after": entry.balance_after,
        "related_call_id": entry.related_call_id,
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
    related_call_id: str | None = None,
) -> tuple[Sequence[LedgerEntry], str | None]:
    statement = select(LedgerEntry).where(LedgerEntry.org_id == org_id)
    if wallet_id:
        statement = statement.where(LedgerEntry.wallet_id == wallet_id)
    if type_:
        statement = statement.where(LedgerEntry.type == type_)
    if category:
        statement = statement.where(LedgerEntry.category == category)
    if related_call_id:
        statement = statement.where(LedgerEntry.related_call_id == related_call_id)
    return await paginate(session, statement, id_column=LedgerEntry.id, params=params)


async def get_entry(session: AsyncSession, *, org_id: str, entry_id: str) -> LedgerEntry:
    entry = await session.scalar(
        select(LedgerEntry).where(LedgerEntry.org_id == org_id, LedgerEntry.id == entry_id)
    )
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
    """Money debited for calls since ``since``, by a user or from a wallet."""
    statement = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.org_id == org_id,
        LedgerEntry.type == "debit",
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
