"""Billing's part in GDPR requests: a user's wallets and their ledger.

Money records stay whatever happens to the person: an erasure swaps the user's
id for the erasure's anonymous reference on their wallets (``owner_id``) and on
ledger entries (``user_id``), so balances, totals and the append-only ledger are
untouched and the rows still group by payer. ``ledger_entries.user_id`` is such
a reference, not personal data in itself, so it carries no ``PERSONAL`` marker;
billing has no column that is personal on its own, hence no contact handler.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.enums import OwnerType
from commbase.billing.models import LedgerEntry, Wallet
from commbase.core.db import rowcount
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject

USER_OWNER = OwnerType.USER


async def _wallet_ids(session: AsyncSession, *, org_id: str, user_id: str) -> list[str]:
    rows = await session.scalars(
        select(Wallet.id).where(
            Wallet.org_id == org_id, Wallet.owner_type == USER_OWNER, Wallet.owner_id == user_id
        )
    )
    return list(rows)


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The user's wallets, and every ledger entry they made or their wallets hold."""
    wallet_ids = await _wallet_ids(session, org_id=org_id, user_id=subject_id)
    wallets = await session.scalars(select(Wallet).where(Wallet.id.in_(wallet_ids)))
    entries = await session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.org_id == org_id,
            or_(LedgerEntry.user_id == subject_id, LedgerEntry.wallet_id.in_(wallet_ids)),
        )
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    )
    return {"wallets": as_records(wallets), "ledger_entries": as_records(entries)}


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    """Point the user's wallets and ledger entries at ``reference`` instead of the user."""
    wallets = await session.execute(
        update(Wallet)
        .where(
            Wallet.org_id == org_id,
            Wallet.owner_type == USER_OWNER,
            Wallet.owner_id == subject_id,
        )
        .values(owner_id=reference)
        .execution_options(synchronize_session=False)
    )
    entries = await session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.org_id == org_id, LedgerEntry.user_id == subject_id)
        .values(user_id=reference)
        .execution_options(synchronize_session=False)
    )
    return {"wallets": rowcount(wallets), "ledger_entries": rowcount(entries)}


register_subject(
    "billing",
    "user",
    tables={"wallets", "ledger_entries"},
    export=export_user,
    erase=erase_user,
)
