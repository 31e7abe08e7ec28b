"""Refunds of call charges and top-ups.

* A refund names the entry it refunds (``refund_of``) and is a ledger entry of
  type ``refund``: ``call_refund`` gives a call's money and package minutes back
  to the wallet; ``topup_refund`` takes a top-up's money (and minutes) back from
  the wallet, to be returned to whoever paid.
* Whole (no amounts given: everything not refunded yet) or partial; the refunds
  of an entry never add up to more than it (its ``refunded_amount`` and
  ``refunded_minutes`` count them, under a CHECK constraint and a conditional
  update, so concurrent refunds cannot overshoot).
* Only completed call charges and top-ups are refundable. A top-up refund takes
  only what the wallet has available (402 otherwise).
* A refund of a Stripe top-up is ``pending`` until Stripe refunds the card: the
  money is held meanwhile, the ``billing.stripe_refund`` effect asks Stripe after
  commit (idempotency key from the refund's id) and completes it, or marks it
  failed with Stripe's error and gives the hold back.
* With an ``Idempotency-Key`` the refund row carries it (unique): the same key
  gives the same refund back, even after a crash that lost the stored response.
"""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import events, ledger, pending
from commbase.billing import service as wallets
from commbase.billing.enums import (
    LedgerCategory,
    LedgerStatus,
    LedgerType,
    PaymentMethod,
)
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.schemas import RefundCreate
from commbase.core import outbox
from commbase.core.auth import Principal
from commbase.core.db import rowcount
from commbase.core.errors import (
    Conflict,
    IdempotencyKeyReused,
    PaymentRequired,
    PermissionDenied,
    invalid,
)

_REFUNDABLE: dict[tuple[str, str], LedgerCategory] = {
    (LedgerType.DEBIT, LedgerCategory.CALL_CHARGE): LedgerCategory.CALL_REFUND,
    (LedgerType.CREDIT, LedgerCategory.WALLET_TOPUP): LedgerCategory.TOPUP_REFUND,
}

_COUNT_REFUND = (
    update(LedgerEntry)
    .where(
        LedgerEntry.id == bindparam("entry_id"),
        LedgerEntry.refunded_amount + bindparam("add_amount") <= LedgerEntry.amount,
        LedgerEntry.refunded_minutes + bindparam("add_minutes") <= LedgerEntry.minutes,
    )
    .values(
        refunded_amount=LedgerEntry.refunded_amount + bindparam("add_amount"),
        refunded_minutes=LedgerEntry.refunded_minutes + bindparam("add_minutes"),
    )
    .execution_options(synchronize_session=False)
)


def _replayed(existing: LedgerEntry, *, entry_id: str, data: RefundCreate) -> LedgerEntry:
    """``existing`` (an entry of the refunded entry's wallet) if it is the refund this
    request asks for again; else 422."""
    asked = (data.amount or 0, data.minutes or 0)
    whole = data.amount is None and data.minutes is None
    if (
        existing.refund_of != entry_id
        or (not whole and (existing.amount, existing.minutes) != asked)
        or existing.description != data.reason
    ):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was first used for another request; use a new key",
            transaction_id=existing.id,
        )
    return existing


def _amounts(original: LedgerEntry, data: RefundCreate) -> tuple[int, int]:
    """What to refund: the rest of the entry, or what was asked within it."""
    left = original.amount - original.refunded_amount
    left_minutes = original.minutes - original.refunded_minutes
    if data.amount is None and data.minutes is None:
        if left == 0 and left_minutes == 0:
            raise Conflict("This entry is refunded in full already", transaction_id=original.id)
        return left, left_minutes
    amount, minutes = data.amount or 0, data.minutes or 0
    if amount > left:
        raise invalid(
            f"At most {left} of {original.amount} is left to refund", "amount", refundable=left
        )
    if minutes > left_minutes:
        raise invalid(
            f"At most {left_minutes} of {original.minutes} minutes are left to refund",
            "minutes",
            refundable_minutes=left_minutes,
        )
    return amount, minutes


async def refund(
    session: AsyncSession,
    *,
    principal: Principal,
    entry_id: str,
    data: RefundCreate,
    idempotency_key: str | None,
) -> LedgerEntry:
    """Refund a call charge or a top-up, whole or in part; returns the refund entry.
    A retry with the same key answers with the refund it made (looked up on the
    refunded entry's wallet only); the key with another entry or body is a 422."""
    original = await ledger.get_entry(session, org_id=principal.org_id, entry_id=entry_id)
    wallet = await wallets.visible_wallet(
        session, principal=principal, wallet_id=original.wallet_id
    )
    existing = await ledger.request_entry(session, idempotency_key, wallet=wallet)
    if existing is not None:
        return _replayed(existing, entry_id=entry_id, data=data)
    category = _REFUNDABLE.get((original.type, original.category))
    if category is None or original.status != LedgerStatus.COMPLETED:
        raise Conflict(
            "Only completed call charges and top-ups can be refunded", transaction_id=original.id
        )
    amount, minutes = _amounts(original, data)
    to_stripe = (
        category == LedgerCategory.TOPUP_REFUND
        and original.payment_method == PaymentMethod.STRIPE
        and original.provider_transaction_id is not None
        and amount > 0
    )
    if to_stripe and wallet.livemode and not principal.livemode:
        raise PermissionDenied("Test credentials cannot refund a live payment")
    posting = ledger.Posting(
        type=LedgerType.REFUND,
        category=category,
        idempotency_key=idempotency_key,
        related_call_id=original.related_call_id,
        user_id=original.user_id,
        agent_session_id=original.agent_session_id,
        payment_method=original.payment_method if to_stripe else PaymentMethod.ADMIN,
        description=data.reason,
        details={"refunded_by": principal.actor_id},
        refund_of=original.id,
    )
    try:
        async with session.begin_nested():
            counted = await session.execute(
                _COUNT_REFUND,
                {"entry_id": original.id, "add_amount": amount, "add_minutes": minutes},
            )
            if rowcount(counted) != 1:
                raise Conflict(
                    "Another refund of this entry got there first; nothing is left to refund "
                    "for this one",
                    transaction_id=original.id,
                )
            entry = await _post(
                session,
                wallet=wallet,
                posting=posting,
                amount=amount,
                minutes=minutes,
                to_stripe=to_stripe,
            )
    except ledger.DuplicatePosting as duplicate:
        return _replayed(duplicate.entry, entry_id=entry_id, data=data)
    return entry


async def _post(
    session: AsyncSession,
    *,
    wallet: Wallet,
    posting: ledger.Posting,
    amount: int,
    minutes: int,
    to_stripe: bool,
) -> LedgerEntry:
    if to_stripe:
        held = await pending.record_pending(
            session,
            wallet=wallet,
            amount=amount,
            minutes=minutes,
            hold=True,
            posting=posting,
            raise_on_duplicate=True,
        )
        await outbox.record(
            session,
            events.WALLET_REFUND_REQUESTED,
            ledger.entry_payload(held),
            org_id=wallet.org_id,
        )
        return held
    sign = 1 if posting.category == LedgerCategory.CALL_REFUND else -1
    entry = await ledger.post(
        session,
        wallet=wallet,
        amount_delta=sign * amount,
        minutes_delta=sign * minutes,
        require_available=None if sign > 0 else amount,
        require_minutes=None if sign > 0 else minutes,
        posting=posting,
        raise_on_duplicate=True,
    )
    if entry is None:
        raise PaymentRequired(
            "The wallet no longer holds what this refund takes back",
            wallet_id=wallet.id,
            amount=amount,
            minutes=minutes,
        )
    await outbox.record(
        session, events.WALLET_REFUNDED, ledger.entry_payload(entry), org_id=wallet.org_id
    )
    return entry
