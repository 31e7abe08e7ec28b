"""Provider payments not settled yet.

A Stripe top-up, an automatic recharge charged to a card, a refund sent to
Stripe: each is a ``pending`` ledger row that has not moved the balance. It
becomes ``completed`` (and moves the balance then) or ``failed`` (with the
provider's error code and message, nothing moved) exactly once, whichever of
the webhook, the effect or a retry gets there first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import events
from commbase.billing.enums import LedgerCategory, LedgerStatus, LedgerType
from commbase.billing.ledger import (
    APPLY,
    DuplicatePosting,
    Posting,
    after_credit,
    entry_payload,
    entry_values,
    wallet_entry,
)
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core import outbox
from commbase.core.db import rowcount
from commbase.core.errors import PaymentRequired
from commbase.core.ids import new_id
from commbase.core.time import utcnow


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
    existing = await wallet_entry(session, posting.idempotency_key, wallet)
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
            entry = LedgerEntry(
                **entry_values(
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
            )
            session.add(entry)
            await session.flush()
    except IntegrityError:
        duplicate = await wallet_entry(session, posting.idempotency_key, wallet)
        if duplicate is None:
            raise
        await session.refresh(wallet)
        if raise_on_duplicate:
            raise DuplicatePosting(duplicate) from None
        return duplicate
    return entry


# Refunds that reserve their money while the provider is asked.
HELD_CATEGORIES = (LedgerCategory.TOPUP_REFUND, LedgerCategory.INVOICE_REFUND)


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
    received: int | None = None,
) -> bool:
    """Complete a pending entry: move the balance it describes (for a payment in,
    ``received``: what the provider says it took, if that differs). False if it
    was settled (completed or failed) already."""
    claimed = await session.execute(
        _CLAIM_PENDING, {"entry_id": entry.id, "new_status": LedgerStatus.COMPLETED}
    )
    if rowcount(claimed) != 1:
        await session.refresh(entry)
        return False
    held = entry.category in HELD_CATEGORIES  # reserved when it was requested
    sign = _direction(entry)
    if received and sign > 0:
        entry.amount = received
    now = utcnow()
    updated = (
        await session.scalars(
            APPLY,
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
        await after_credit(session, wallet=updated, entry=entry)
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
    if entry.category in HELD_CATEGORIES:
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
