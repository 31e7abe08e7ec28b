"""The append-only ledger: every balance change is one conditional ``UPDATE ...
RETURNING`` on the wallet row plus one ledger row, in the caller's transaction.

* the database applies the arithmetic, so concurrent writers never lose an update;
* the ``WHERE`` clause and the table's CHECK constraints keep ``balance >= held >= 0``,
  so a balance never goes negative;
* a unique ``idempotency_key`` on the ledger makes a retried credit or charge a no-op.

A provider payment that is not settled yet (a Stripe top-up, an automatic
recharge, a refund sent to Stripe) is a ``pending`` row that has not moved the
balance; it becomes ``completed`` (and moves it) or ``failed`` (with the
provider's error code and message) exactly once.
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
    LedgerCategory,
    LedgerStatus,
    LedgerType,
    PaymentMethod,
    PaymentProvider,
)
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core import outbox
from commbase.core.db import rowcount
from commbase.core.errors import NotFound, PaymentRequired
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


async def existing_entry(session: AsyncSession, key: str | None) -> LedgerEntry | None:
    if key is None:
        return None
    return await session.scalar(_ENTRY_BY_KEY, {"key": key})


def _receipt_number(now: datetime) -> str:
    return f"R-{now:%Y%m%d}-{new_id('r')[-8:].upper()}"


def _entry(
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
) -> LedgerEntry:
    return LedgerEntry(
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
    existing = await existing_entry(session, posting.idempotency_key)
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
            statement = _APPLY
            if require_available is not None or require_minutes is not None:
                statement = _APPLY_IF_AVAILABLE
                params["require_available"] = require_available or 0
                params["require_minutes"] = (
                    max(0, -minutes_delta) if require_minutes is None else require_minutes
                )
            updated = (await session.scalars(statement, params)).first()
            if updated is None:
                return None
            entry = _entry(
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
            session.add(entry)
            await session.flush()
    except IntegrityError:
        # Another transaction posted the same idempotency key first; the savepoint
        # took the balance change back, so show the wallet as it really is.
        await session.refresh(wallet)
        duplicate = await existing_entry(session, posting.idempotency_key)
        if duplicate is None:
            raise
        if raise_on_duplicate:
            raise DuplicatePosting(duplicate) from None
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
    entry = await post(
        session, wallet=wallet, amount_delta=amount, minutes_delta=minutes, posting=posting
    )
    assert entry is not None
    await _after_credit(session, wallet=wallet, entry=entry)
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
    entry = await post(
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
    await after_spend(session, wallet=wallet, entry=entry)
    return entry


# ------------------------------------------------------------ pending payments


async def record_pending(
    session: AsyncSession,
    *,
    wallet: Wallet,
    amount: int,
    minutes: int = 0,
    hold: bool = False,
    posting: Posting,
    raise_on_duplicate: bool = False,
) -> LedgerEntry:
    """A provider payment not settled yet: a ``pending`` row that has not moved the
    balance, once per idempotency key. With ``hold``, the money and minutes it will
    take are reserved meanwhile (PaymentRequired if they are not available)."""
    existing = await existing_entry(session, posting.idempotency_key)
    if existing is not None:
        if raise_on_duplicate:
            raise DuplicatePosting(existing)
        return existing
    now = utcnow()
    entry_id = new_id("txn")
    try:
        async with session.begin_nested():
            if hold:
                held = (
                    await session.scalars(
                        update(Wallet)
                        .where(
                            Wallet.id == wallet.id,
                            Wallet.balance - Wallet.held >= amount,
                            Wallet.balance_minutes - Wallet.held_minutes >= minutes,
                        )
                        .values(
                            held=Wallet.held + amount,
                            held_minutes=Wallet.held_minutes + minutes,
                            updated_at=now,
                        )
                        .returning(Wallet)
                        .execution_options(synchronize_session=False, populate_existing=True)
                    )
                ).first()
                if held is None:
                    raise PaymentRequired(
                        "The wallet's available balance does not cover this",
                        wallet_id=wallet.id,
                        amount=amount,
                        minutes=minutes,
                    )
                if held is not wallet:
                    await session.refresh(wallet)
            else:
                await session.refresh(wallet)
            entry = _entry(
                entry_id=entry_id,
                wallet=wallet,
                posting=posting,
                status=LedgerStatus.PENDING,
                amount=amount,
                minutes=minutes,
                balance_after=wallet.balance,
                minutes_after=wallet.balance_minutes,
                amount_delta=0,
                minutes_delta=0,
                now=now,
            )
            session.add(entry)
            await session.flush()
    except IntegrityError:
        duplicate = await existing_entry(session, posting.idempotency_key)
        if duplicate is None:
            raise
        await session.refresh(wallet)
        if raise_on_duplicate:
            raise DuplicatePosting(duplicate) from None
        return duplicate
    return entry


def _direction(entry: LedgerEntry) -> int:
    """+1 if the entry adds to the wallet once completed, -1 if it takes away."""
    if entry.type == LedgerType.CREDIT or entry.category == LedgerCategory.CALL_REFUND:
        return 1
    return -1


_CLAIM_PENDING = (
    update(LedgerEntry)
    .where(LedgerEntry.id == bindparam("entry_id"), LedgerEntry.status == LedgerStatus.PENDING)
    .values(status=bindparam("new_status"))
    .execution_options(synchronize_session=False)
)


async def settle_pending(
    session: AsyncSession,
    *,
    entry: LedgerEntry,
    provider_transaction_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Complete a pending entry: move the balance it describes. False if it was
    settled (completed or failed) already."""
    claimed = await session.execute(
        _CLAIM_PENDING, {"entry_id": entry.id, "new_status": LedgerStatus.COMPLETED}
    )
    if rowcount(claimed) != 1:
        await session.refresh(entry)
        return False
    held = entry.category == LedgerCategory.TOPUP_REFUND  # reserved when it was requested
    sign = _direction(entry)
    now = utcnow()
    updated = (
        await session.scalars(
            _APPLY,
            {
                "wallet_id": entry.wallet_id,
                "amount_delta": sign * entry.amount,
                "held_delta": -entry.amount if held else 0,
                "minutes_delta": sign * entry.minutes,
                "held_minutes_delta": -entry.minutes if held else 0,
                "now": now,
                "entry_id": entry.id,
            },
        )
    ).one()
    entry.status = LedgerStatus.COMPLETED
    entry.balance_after = updated.balance
    entry.balance_before = updated.balance - sign * entry.amount
    entry.minutes_after = updated.balance_minutes
    entry.minutes_before = updated.balance_minutes - sign * entry.minutes
    entry.completed_at = now
    if provider_transaction_id:
        entry.provider_transaction_id = provider_transaction_id
    if details:
        entry.details = {**entry.details, **details}
    await session.flush()
    if sign > 0:
        await _after_credit(session, wallet=updated, entry=entry)
    else:
        await outbox.record(
            session, events.WALLET_REFUNDED, entry_payload(entry), org_id=entry.org_id
        )
    return True


async def fail_pending(
    session: AsyncSession, *, entry: LedgerEntry, code: str, message: str
) -> bool:
    """Mark a pending entry failed with the provider's error; give back what it held
    and what it counted against a refunded entry. False if it was settled already."""
    claimed = await session.execute(
        _CLAIM_PENDING, {"entry_id": entry.id, "new_status": LedgerStatus.FAILED}
    )
    if rowcount(claimed) != 1:
        await session.refresh(entry)
        return False
    if entry.category == LedgerCategory.TOPUP_REFUND:
        await session.execute(
            update(Wallet)
            .where(Wallet.id == entry.wallet_id)
            .values(
                held=Wallet.held - entry.amount, held_minutes=Wallet.held_minutes - entry.minutes
            )
            .execution_options(synchronize_session=False)
        )
    if entry.refund_of is not None:
        await session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id == entry.refund_of)
            .values(
                refunded_amount=LedgerEntry.refunded_amount - entry.amount,
                refunded_minutes=LedgerEntry.refunded_minutes - entry.minutes,
            )
            .execution_options(synchronize_session=False)
        )
    entry.status = LedgerStatus.FAILED
    entry.error_code = code[:60]
    entry.error_message = message[:500]
    entry.completed_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        events.WALLET_PAYMENT_FAILED,
        {**entry_payload(entry), "error_code": entry.error_code, "error_message": message[:500]},
        org_id=entry.org_id,
    )
    return True


# ------------------------------------------------------------ after a change


async def _after_credit(session: AsyncSession, *, wallet: Wallet, entry: LedgerEntry) -> None:
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


def _crossed(entry: LedgerEntry, threshold: int | None) -> bool:
    return threshold is not None and entry.balance_after < threshold <= entry.balance_before


async def after_spend(session: AsyncSession, *, wallet: Wallet, entry: LedgerEntry) -> None:
    """Announce a debit; warn when it takes the balance under the low-balance
    threshold, and ask for one automatic recharge when it crosses the recharge one."""
    await outbox.record(session, events.WALLET_DEBITED, entry_payload(entry), org_id=wallet.org_id)
    threshold = wallet.low_balance_threshold
    if threshold is None and wallet.auto_recharge:
        threshold = wallet.auto_recharge_threshold
    if _crossed(entry, threshold):
        assert threshold is not None
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
        and _crossed(entry, wallet.auto_recharge_threshold)
    ):
        await _request_recharge(session, wallet=wallet, trigger=entry)


async def _request_recharge(session: AsyncSession, *, wallet: Wallet, trigger: LedgerEntry) -> None:
    """One recharge per charge that crossed the threshold (its key names the charge).

    The ``manual`` provider stands for a pre-authorised internal top-up and credits
    at once. ``stripe`` records a pending top-up and a ``wallet.recharge_requested``
    event: the card is charged after commit by the ``billing.recharge`` effect, and
    the ``payment_intent.succeeded`` webhook completes the top-up.
    """
    amount = wallet.auto_recharge_amount or 0
    key = f"recharge:{trigger.id}"
    details = {"auto_recharge": True, "trigger": trigger.id}
    if wallet.provider != PaymentProvider.STRIPE:
        await credit(
            session,
            wallet=wallet,
            amount=amount,
            posting=Posting(
                type=LedgerType.CREDIT,
                category=LedgerCategory.WALLET_TOPUP,
                payment_method=PaymentMethod.AUTO_RECHARGE,
                idempotency_key=key,
                description="Automatic recharge",
                details=details,
            ),
        )
        return
    pending = await record_pending(
        session,
        wallet=wallet,
        amount=amount,
        posting=Posting(
            type=LedgerType.CREDIT,
            category=LedgerCategory.WALLET_TOPUP,
            payment_method=PaymentMethod.STRIPE,
            idempotency_key=key,
            description="Automatic recharge",
            details=details,
        ),
    )
    await outbox.record(
        session, events.WALLET_RECHARGE_REQUESTED, entry_payload(pending), org_id=wallet.org_id
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
