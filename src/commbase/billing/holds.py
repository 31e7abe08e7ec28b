"""What a call reserves when it is placed (``hold``) and pays when it ends (``capture``).

A hold is cover, not a choice of what pays. It reserves **money first** — as
many minutes as the available balance buys at the call's rate, up to its
maximum duration — and package minutes only for the minutes the money cannot
cover, so package minutes stay free for every call while the money lasts.

At capture, **package minutes are spent first**: the call's own reserved
minutes, then any package minutes no other call has reserved at that moment;
only the minutes left over are paid from money, never more than the call's
money hold. Seven overlapping calls on a wallet with 120 package minutes and
the money to cover them therefore spend package minutes whatever order they end
in. Only when the money cannot cover the calls in progress do some of them
reserve package minutes; those minutes stay reserved for those calls until
they end, because they are what guarantees that those calls can be paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Integer, Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from commbase.billing import ledger, postings
from commbase.billing.enums import LedgerCategory, LedgerType
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core.errors import Conflict, PaymentRequired
from commbase.core.money import cost_of, minutes_affordable


@dataclass(frozen=True)
class Hold:
    amount: int  # minor units reserved
    minutes: int  # package minutes reserved
    allowed_minutes: int  # how long the call may run


_WALLETS: Table = Wallet.__table__  # type: ignore[assignment]
_BALANCES = ("balance", "held", "balance_minutes", "held_minutes", "updated_at")


def _hold_update(prefix: str) -> Update:
    """The hold's conditional ``UPDATE``, on the table (not the ORM entity: an ORM-enabled
    UPDATE costs more CPU than the round trip), its parameters ``<prefix>wallet_id``,
    ``<prefix>amount`` and ``<prefix>package``; it returns the balances it leaves."""
    amount = bindparam(f"{prefix}amount", type_=BigInteger)
    package = bindparam(f"{prefix}package", type_=Integer)
    return (
        update(_WALLETS)
        .where(
            _WALLETS.c.id == bindparam(f"{prefix}wallet_id"),
            _WALLETS.c.balance - _WALLETS.c.held >= amount,
            _WALLETS.c.balance_minutes - _WALLETS.c.held_minutes >= package,
        )
        .values(held=_WALLETS.c.held + amount, held_minutes=_WALLETS.c.held_minutes + package)
        .returning(*(_WALLETS.c[name] for name in _BALANCES))
    )


# Built once: every call placed runs one of them.
_HOLD = _hold_update("")
# The same as a CTE (``held``) of a statement on another table (``calls.storing``), its
# parameters named after no column of that table (``held_parameters``).
HELD = _hold_update("h_").cte("held")
HELD_BALANCES = tuple(HELD.c[name] for name in _BALANCES)


def cover(wallet: Wallet, *, rate_per_minute: Decimal, max_minutes: int) -> Hold:
    """What a call of up to ``max_minutes`` holds on ``wallet`` as read: as many minutes
    as its free money buys, then package minutes for the rest; PaymentRequired unless
    at least one minute is covered."""
    free_money = max(0, wallet.balance - wallet.held)
    free_minutes = max(0, wallet.balance_minutes - wallet.held_minutes)
    paid = min(minutes_affordable(free_money, rate_per_minute, wallet.currency), max_minutes)
    package = min(free_minutes, max_minutes - paid)
    if package + paid < 1:
        raise PaymentRequired(
            f"The wallet does not cover one minute at {rate_per_minute} {wallet.currency}/min",
            wallet_id=wallet.id,
            available=free_money,
        )
    amount = cost_of(paid, rate_per_minute, wallet.currency)
    return Hold(amount=amount, minutes=package, allowed_minutes=package + paid)


def held_parameters(wallet: Wallet, hold: Hold, prefix: str = "h_") -> dict[str, Any]:
    """The parameters of ``HELD`` (of ``_HOLD`` with ``prefix=""``): ``hold`` taken on
    ``wallet``."""
    return {
        f"{prefix}wallet_id": wallet.id,
        f"{prefix}amount": hold.amount,
        f"{prefix}package": hold.minutes,
    }


def show_taken(wallet: Wallet, balances: Sequence[Any]) -> None:
    """Give ``wallet`` the balances its hold returned (``HELD_BALANCES``' order), as read;
    PaymentRequired if there are none: the wallet no longer covered the hold."""
    if balances[0] is None:
        raise PaymentRequired("The wallet no longer covers the call; retry", wallet_id=wallet.id)
    for name, value in zip(_BALANCES, balances, strict=True):
        set_committed_value(wallet, name, value)


async def take(session: AsyncSession, wallet: Wallet, hold: Hold) -> None:
    """Take ``hold`` (:func:`cover`) on ``wallet``, which this transaction has locked."""
    held = (await session.execute(_HOLD, held_parameters(wallet, hold, ""))).first()
    show_taken(wallet, held if held is not None else (None,) * len(_BALANCES))


async def hold_for_call(
    session: AsyncSession,
    *,
    wallet: Wallet,
    rate_per_minute: Decimal,
    max_minutes: int,
) -> Hold:
    """Reserve what a call of up to ``max_minutes`` may cost, capped by what the wallet
    holds (money first, then package minutes: :func:`cover`), read afresh; PaymentRequired
    unless at least one minute is covered. (A wallet this transaction has locked and read
    needs no second read: :func:`cover`, then :func:`take`.)"""
    for _ in range(6):
        await session.refresh(wallet)
        hold = cover(wallet, rate_per_minute=rate_per_minute, max_minutes=max_minutes)
        # RETURNING the balances refreshes ``wallet`` in the same round trip.
        held = (await session.execute(_HOLD, held_parameters(wallet, hold, ""))).first()
        if held is not None:
            show_taken(wallet, held)
            return hold
    raise PaymentRequired("The wallet is busy; retry", wallet_id=wallet.id)


def split_capture(
    *,
    free_minutes: int,
    hold: Hold,
    billable_minutes: int,
    rate_per_minute: Decimal,
    currency: str,
) -> tuple[int, int]:
    """What a finished call pays: (money in minor units, package minutes). Package
    minutes first (its own reserved ones, then ``free_minutes`` nobody reserved), the
    rest in money, never more than its money hold."""
    package_used = min(billable_minutes, free_minutes + hold.minutes)
    paid_minutes = billable_minutes - package_used
    amount = min(cost_of(paid_minutes, rate_per_minute, currency), hold.amount)
    return amount, package_used


def call_posting(
    *,
    call_id: str,
    billable_minutes: int,
    package_minutes: int,
    rate_per_minute: Decimal,
    currency: str,
    user_id: str | None,
    agent_session_id: str | None,
) -> ledger.Posting:
    """A call charge's ledger row; its key ``call:<id>`` makes a second capture a no-op."""
    return ledger.Posting(
        type=LedgerType.DEBIT,
        category=LedgerCategory.CALL_CHARGE,
        idempotency_key=f"call:{call_id}",
        related_call_id=call_id,
        user_id=user_id,
        agent_session_id=agent_session_id,
        description=f"{billable_minutes} min at {rate_per_minute} {currency}/min",
        details={
            "billable_minutes": billable_minutes,
            "package_minutes": package_minutes,
            "rate_per_minute": str(rate_per_minute),
        },
    )


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
    """Settle a finished call: spend package minutes first, charge money for the rest
    (never more than its hold) and release the hold. Returns the charge, or None
    for a call that cost nothing. A second capture of the same call changes nothing.

    ``wallet`` should be fresh (``get_wallet(..., for_update=True)``); a stale copy
    only costs a retry, since the update applies only while what it spends is there.
    """
    for _ in range(3):
        free_minutes = max(0, wallet.balance_minutes - wallet.held_minutes)
        amount, package_used = split_capture(
            free_minutes=free_minutes,
            hold=hold,
            billable_minutes=billable_minutes,
            rate_per_minute=rate_per_minute,
            currency=wallet.currency,
        )
        if amount == 0 and package_used == 0:
            return await release_unless_charged(session, wallet=wallet, call_id=call_id, hold=hold)
        try:
            entry = await ledger.post(
                session,
                wallet=wallet,
                amount_delta=-amount,
                minutes_delta=-package_used,
                held_delta=-hold.amount,
                held_minutes_delta=-hold.minutes,
                require_available=amount - hold.amount,
                require_minutes=package_used - hold.minutes,
                raise_on_duplicate=True,
                posting=call_posting(
                    call_id=call_id,
                    billable_minutes=billable_minutes,
                    package_minutes=package_used,
                    rate_per_minute=rate_per_minute,
                    currency=wallet.currency,
                    user_id=user_id,
                    agent_session_id=agent_session_id,
                ),
            )
        except ledger.DuplicatePosting as duplicate:
            return duplicate.entry
        if entry is not None:
            await postings.after_spend(session, wallet=wallet, entry=entry)
            return entry
        await session.refresh(wallet)  # another writer moved the wallet: recompute
    raise Conflict("The wallet changed while the call was settled; retry", wallet_id=wallet.id)


async def release_unless_charged(
    session: AsyncSession, *, wallet: Wallet, call_id: str, hold: Hold
) -> LedgerEntry | None:
    """Give back the hold of a call that costs nothing now, unless the call was charged
    already: a wallet's group commit charges a call and releases its hold before the
    caller's transaction commits, and a caller whose transaction then failed may end
    the call again (canceled, nothing billable) -- that hold went back with the charge."""
    if (earlier := await ledger.wallet_entry(session, f"call:{call_id}", wallet)) is not None:
        return earlier
    await release_hold(session, wallet=wallet, hold=hold)
    return None


async def release_hold(session: AsyncSession, *, wallet: Wallet, hold: Hold) -> None:
    """Give back a hold without charging (a call that never connected)."""
    await session.execute(
        update(Wallet)
        .where(Wallet.id == wallet.id)
        .values(held=Wallet.held - hold.amount, held_minutes=Wallet.held_minutes - hold.minutes)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(wallet)
