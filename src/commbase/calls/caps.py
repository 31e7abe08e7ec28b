"""What a placed call may last and spend: its longest duration, the spend caps that
apply (an agent session's total, the user's and the wallet's day) and the hold they
leave room for, worked out with the paying wallet locked."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from math import ceil
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import holds
from commbase.billing import service as billing_service
from commbase.billing.holds import Hold
from commbase.billing.models import Wallet
from commbase.calls import concurrency
from commbase.calls.callers import Caller
from commbase.core.errors import PaymentRequired
from commbase.core.money import minutes_affordable
from commbase.core.time import utcnow
from commbase.identity.agent_sessions import service as agent_sessions
from commbase.settings import Settings


async def check_limits_and_hold(
    session: AsyncSession,
    *,
    caller: Caller,
    wallet: Wallet,
    rate: Decimal,
    requested_s: int | None,
    settings: Settings,
) -> tuple[int, Hold]:
    """The checks every call placed (a phone call, a video room) passes with its
    wallet locked: concurrency, the longest it may last, the spend caps, and the
    hold. Returns the seconds the call may last and the hold."""
    max_duration = max_duration_of(caller, requested_s=requested_s, settings=settings)
    await concurrency.check(session, caller)
    caps = await _spend_caps(session, caller=caller, wallet=wallet)
    hold = await _reserve(session, wallet=wallet, rate=rate, max_duration=max_duration, caps=caps)
    return min(max_duration, hold.allowed_minutes * 60), hold


def has_caps(caller: Caller, wallet: Wallet) -> bool:
    """Whether a spend limit applies (``check_limits_and_hold`` reads what was spent)."""
    return (
        (caller.agent is not None and caller.agent.max_spend_limit is not None)
        or (caller.user_id is not None and caller.limits.daily_spend_limit is not None)
        or wallet.daily_spend_limit is not None
    )


def max_duration_of(caller: Caller, *, requested_s: int | None, settings: Settings) -> int:
    """The longest the call may last: the request's, the server's, the user's limits and
    AI settings, and the agent session's limit, whichever is shortest."""
    candidates = [
        settings.max_call_duration_s,
        requested_s,
        caller.limits.max_call_duration_s,
        caller.limits.ai_max_call_duration_s,
        caller.agent.max_call_duration if caller.agent else None,
    ]
    return min([value for value in candidates if value is not None])


def _today_start(timezone: str) -> datetime:
    local = utcnow().astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def _spend_caps(session: AsyncSession, *, caller: Caller, wallet: Wallet) -> list[int]:
    """What may still be spent, in minor units, under each spend limit that applies:
    the agent session's total, the user's day and the wallet's day."""
    org_id = caller.principal.org_id
    caps: list[int] = []
    if caller.agent is not None and caller.agent.max_spend_limit is not None:
        assert caller.agent_session_id is not None
        agent = await agent_sessions.get_session(
            session, org_id=org_id, session_id=caller.agent_session_id
        )
        caps.append(caller.agent.max_spend_limit - int(agent.stats.get("total_spent", 0)))
    today = _today_start(caller.timezone)
    if caller.user_id and caller.limits.daily_spend_limit is not None:
        spent = await billing_service.spent_since(
            session, org_id=org_id, since=today, user_id=caller.user_id
        )
        caps.append(caller.limits.daily_spend_limit - spent)
    if wallet.daily_spend_limit is not None:
        spent = await billing_service.spent_since(
            session, org_id=org_id, since=today, wallet_id=wallet.id
        )
        caps.append(wallet.daily_spend_limit - spent)
    return caps


async def _reserve(
    session: AsyncSession,
    *,
    wallet: Wallet,
    rate: Decimal,
    max_duration: int,
    caps: list[int],
) -> Hold:
    """Hold what the call may cost on ``wallet``, locked and read by this transaction:
    its whole duration, less if a spend cap or the wallet's funds allow less;
    PaymentRequired below one minute."""
    max_minutes = ceil(max_duration / 60)
    if caps:
        capped = minutes_affordable(max(0, min(caps)), rate, wallet.currency)
        if capped < 1 and wallet.balance_minutes - wallet.held_minutes < 1:
            raise PaymentRequired("The spend limit does not cover one more minute")
        max_minutes = min(max_minutes, max(capped, 1))
    hold = holds.cover(wallet, rate_per_minute=rate, max_minutes=max_minutes)
    await holds.take(session, wallet, hold)
    return hold
