"""Wallets, and billing's public face for other domains.

Other domains use billing through this module only (``from commbase.billing
import service as billing_service``): wallets here, the ledger primitives
(``ledger.py``) and call holds (``holds.py``) re-exported below.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.enums import OwnerType, PaymentProvider, WalletStatus
from commbase.billing.grouped import GroupedDebits
from commbase.billing.holds import (
    Hold,
    capture_call,
    hold_for_call,
    release_hold,
    release_unless_charged,
)
from commbase.billing.ledger import (
    Posting,
    anonymise_call_reference,
    get_entry,
    list_entries,
    spent_since,
)
from commbase.billing.models import LedgerEntry, Wallet
from commbase.billing.postings import credit, debit
from commbase.billing.schemas import WalletCreate, WalletUpdate
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.errors import AlreadyExists, NotFound, invalid
from commbase.core.pagination import PageParams, paginate
from commbase.identity import service as identity_service
from commbase.identity.agent_sessions import service as agent_sessions

__all__ = [
    "GroupedDebits",
    "Hold",
    "Posting",
    "anonymise_call_reference",
    "capture_call",
    "charge_call",
    "create_wallet",
    "credit",
    "debit",
    "find_wallet",
    "get_entry",
    "get_wallet",
    "hold_for_call",
    "list_entries",
    "list_wallets",
    "open_wallet",
    "payer_wallet",
    "release_hold",
    "spent_since",
    "update_wallet",
    "visible_wallet",
]


async def create_wallet(
    session: AsyncSession,
    *,
    org_id: str,
    owner_type: str,
    owner_id: str,
    currency: str,
    settings: dict[str, Any] | None = None,
    livemode: bool = True,
) -> Wallet:
    existing = await find_wallet(session, org_id=org_id, owner_type=owner_type, owner_id=owner_id)
    if existing is not None:
        raise AlreadyExists(f"This {owner_type} already has a wallet", wallet_id=existing.id)
    wallet = Wallet(
        org_id=org_id,
        owner_type=owner_type,
        owner_id=owner_id,
        currency=currency,
        livemode=livemode,
        **(settings or {}),
    )
    _check_recharge(wallet)
    session.add(wallet)
    await session.flush()
    return wallet


async def open_wallet(session: AsyncSession, *, principal: Principal, data: WalletCreate) -> Wallet:
    """A new wallet for the organization, one of its users or one of its agent
    sessions. Opened with test credentials, it is a test wallet (payments in the
    provider's sandbox)."""
    owner_id = data.owner_id
    if data.owner_type == OwnerType.ORGANIZATION:
        owner_id = principal.org_id
    elif owner_id is None:
        raise invalid(
            "owner_id is required for user and agent_session wallets",
            "owner_id",
            message="required",
        )
    elif data.owner_type == OwnerType.USER:
        await identity_service.get_member_user(session, org_id=principal.org_id, user_id=owner_id)
    else:
        await agent_sessions.get_session(session, org_id=principal.org_id, session_id=owner_id)
    return await create_wallet(
        session,
        org_id=principal.org_id,
        owner_type=data.owner_type,
        owner_id=owner_id,
        currency=data.currency,
        settings=data.model_dump(exclude={"owner_type", "owner_id", "currency"}),
        livemode=principal.livemode,
    )


def _check_unattended(provider: str | None, enabled: bool | None) -> None:
    """PayPal and Cashfree payments are approved by the payer: nothing can recharge
    a wallet through them unattended."""
    if enabled and provider in (PaymentProvider.PAYPAL, PaymentProvider.CASHFREE):
        raise invalid(
            f"auto_recharge needs a provider that charges a saved card (stripe or manual), "
            f"not {provider}",
            "auto_recharge",
        )


def _check_recharge(wallet: Wallet) -> None:
    _check_unattended(wallet.provider, wallet.auto_recharge)
    if wallet.auto_recharge and (
        wallet.auto_recharge_threshold is None or not wallet.auto_recharge_amount
    ):
        raise invalid(
            "auto_recharge needs auto_recharge_threshold and a positive auto_recharge_amount",
            "auto_recharge",
        )


async def update_wallet(session: AsyncSession, *, wallet: Wallet, changes: WalletUpdate) -> Wallet:
    """Apply the fields the client sent (null clears a threshold or a provider id)."""
    values = changes.model_dump(exclude_unset=True)
    recharge = ("auto_recharge", "auto_recharge_threshold", "auto_recharge_amount")
    enabled, threshold, amount = (values.get(f, getattr(wallet, f)) for f in recharge)
    _check_unattended(values.get("provider", wallet.provider), enabled)
    if enabled and (threshold is None or not amount):
        raise invalid(
            "auto_recharge needs auto_recharge_threshold and a positive auto_recharge_amount",
            "auto_recharge",
        )
    for field, value in values.items():
        setattr(wallet, field, value)
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
    """The wallet; with ``for_update`` its row is locked and the object refreshed."""
    statement = select(Wallet).where(Wallet.org_id == org_id, Wallet.id == wallet_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    wallet = await session.scalar(statement)
    if wallet is None:
        raise NotFound("Wallet not found")
    return wallet


async def visible_wallet(
    session: AsyncSession, *, principal: Principal, wallet_id: str, for_update: bool = False
) -> Wallet:
    """The wallet if ``principal`` may see it: agent sessions see only their own."""
    wallet = await get_wallet(
        session, org_id=principal.org_id, wallet_id=wallet_id, for_update=for_update
    )
    if principal.kind == PrincipalKind.AGENT_SESSION and not (
        wallet.owner_type == OwnerType.AGENT_SESSION and wallet.owner_id == principal.credential_id
    ):
        raise NotFound("Wallet not found")
    return wallet


async def list_wallets(
    session: AsyncSession,
    *,
    principal: Principal,
    params: PageParams,
    owner_type: str | None = None,
    owner_id: str | None = None,
) -> tuple[Sequence[Wallet], str | None]:
    if principal.kind == PrincipalKind.AGENT_SESSION:
        owner_type, owner_id = OwnerType.AGENT_SESSION, principal.credential_id
    statement = select(Wallet).where(Wallet.org_id == principal.org_id)
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
    """Who pays for a call: the agent session's own (active) wallet, else the user's,
    else the organization's. The candidates are read in one query."""
    owners = [
        (owner_type, owner_id)
        for owner_type, owner_id in (
            (OwnerType.AGENT_SESSION, agent_session_id),
            (OwnerType.USER, user_id),
            (OwnerType.ORGANIZATION, org_id),
        )
        if owner_id
    ]
    if not owners:
        return None
    found: dict[tuple[str, str], Wallet] = {}
    for wallet in await session.scalars(
        select(Wallet).where(
            Wallet.org_id == org_id,
            or_(
                *(
                    and_(Wallet.owner_type == owner_type, Wallet.owner_id == owner_id)
                    for owner_type, owner_id in owners
                )
            ),
        )
    ):
        found.setdefault((wallet.owner_type, wallet.owner_id), wallet)
    for owner in owners:
        payer = found.get(owner)
        if payer is not None and payer.status == WalletStatus.ACTIVE:
            return payer
    return None


async def charge_call(
    session: AsyncSession,
    *,
    org_id: str,
    wallet_id: str,
    call_id: str,
    hold: Hold,
    billable_minutes: int,
    rate_per_minute: Decimal,
    user_id: str | None,
    agent_session_id: str | None,
    debits: GroupedDebits | None = None,
) -> LedgerEntry | None:
    """Charge a finished call and release its hold (``capture_call``); None if it cost
    nothing. The charge's key is ``call:<call_id>``: charging a call again returns
    its entry and changes nothing.

    With ``debits`` on PostgreSQL, a call that has minutes to pay is charged in a
    group commit of its wallet's concurrent charges (``GroupedDebits.capture_call``),
    committed before the caller's transaction; ``call_id`` must then be the call's
    own id, stable across retries. Otherwise (SQLite, a batch caller, a call without
    billable minutes) the charge is written in ``session`` with the wallet row locked
    until the caller commits. The caller must not hold the wallet's row lock when it
    passes ``debits``."""
    if (
        debits is not None
        and billable_minutes > 0
        and session.get_bind().dialect.name == ("postgresql")
    ):
        entry = await debits.capture_call(
            org_id=org_id,
            wallet_id=wallet_id,
            call_id=call_id,
            hold=hold,
            billable_minutes=billable_minutes,
            rate_per_minute=rate_per_minute,
            user_id=user_id,
            agent_session_id=agent_session_id,
        )
        if entry is not None:
            return entry
        # Free of charge (a zero rate): nothing was applied; release here.
        wallet = await get_wallet(session, org_id=org_id, wallet_id=wallet_id)
        return await release_unless_charged(session, wallet=wallet, call_id=call_id, hold=hold)
    wallet = await get_wallet(session, org_id=org_id, wallet_id=wallet_id, for_update=True)
    return await capture_call(
        session,
        wallet=wallet,
        call_id=call_id,
        hold=hold,
        billable_minutes=billable_minutes,
        rate_per_minute=rate_per_minute,
        user_id=user_id,
        agent_session_id=agent_session_id,
    )
