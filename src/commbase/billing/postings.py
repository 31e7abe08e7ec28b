"""Credits and debits, and what follows them: their events, the low-balance
warning and the automatic recharge."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import events
from commbase.billing.enums import LedgerCategory, LedgerType, PaymentMethod, PaymentProvider
from commbase.billing.ledger import DuplicatePosting, Posting, after_credit, entry_payload, post
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.pending import record_pending
from commbase.core import outbox
from commbase.core.errors import PaymentRequired


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
    await after_credit(session, wallet=wallet, entry=entry)
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
    try:
        entry = await post(
            session,
            wallet=wallet,
            amount_delta=-amount,
            minutes_delta=-minutes,
            require_available=amount,
            posting=posting,
            raise_on_duplicate=True,
        )
    except DuplicatePosting as duplicate:
        # A retried key: the entry written first, announced when it was written.
        return duplicate.entry
    if entry is None:
        raise PaymentRequired(
            "The wallet's available balance does not cover this debit",
            wallet_id=wallet.id,
            amount=amount,
        )
    await after_spend(session, wallet=wallet, entry=entry)
    return entry


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
