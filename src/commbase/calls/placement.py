"""Placing a call: ``place_call`` and its named steps -- consent, rate and concurrency
limits, the paying wallet and rate, spend caps, the hold -- ending with the call stored
as ``queued`` and ``call.queued`` recorded for ``calls.dialing`` to dial after commit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from math import ceil
from typing import NoReturn

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from commbase.billing import holds
from commbase.billing import rates as billing_rates
from commbase.billing import service as billing_service
from commbase.billing.licenses import service as licenses_service
from commbase.billing.licenses.enums import Feature
from commbase.billing.models import Wallet
from commbase.billing.service import Hold
from commbase.calls import caps, concurrency, events, gate, lifecycle
from commbase.calls import dialing as _dialing  # noqa: F401  (registers the calls.dial consumer)
from commbase.calls.callers import Caller, lock_payer, placing_for
from commbase.calls.enums import CallDirection, CallKind, CallStatus, ProviderName
from commbase.calls.models import Call
from commbase.calls.numbers import parse_destination
from commbase.calls.providers import Carriers
from commbase.calls.schemas import CallCreate
from commbase.calls.storing import insert_call_and_record
from commbase.core import readonly
from commbase.core.auth import Principal
from commbase.core.errors import (
    ConsentRequired,
    ContactBlocked,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    PaymentRequired,
    RateLimited,
)
from commbase.core.phones import PhoneNumber
from commbase.core.time import utcnow
from commbase.identity.agent_sessions.models import AgentSession
from commbase.identity.enums import DataRetention
from commbase.identity.signup.service import EmailNotVerified
from commbase.settings import Settings


@dataclass(frozen=True, slots=True)
class Placed:
    """A placement's outcome: the call, and whether an earlier request had placed it."""

    call: Call
    replayed: bool = False


def request_fingerprint(data: BaseModel) -> str:
    """A hash of what the placement asked for, to tell a retry from another request."""
    body = data.model_dump_json(by_alias=True, exclude_unset=False)
    return hashlib.sha256(body.encode()).hexdigest()


async def place_call(
    session: AsyncSession,
    *,
    principal: Principal,
    data: CallCreate,
    carriers: Carriers,
    settings: Settings,
    idempotency_key: str | None = None,
) -> Placed:
    """Check consent, limits and funds, hold the money and queue the call; the carrier
    is dialed by ``calls.dialing`` once the call has committed. On PostgreSQL, unless
    spend caps apply, the call commits on its own (``calls.gate``) after ``session``
    commits what it read; otherwise it commits with ``session``.

    With an ``idempotency_key`` (the request's credential-scoped key), a call already
    placed with it is returned instead of placing another one.
    """
    # The request's own mistakes first, before anything is read: a number that is
    # not one is a 422 whoever sends it (a retry of it placed nothing either).
    destination = parse_destination(data.to)
    from_number = parse_destination(data.from_, field="from").e164 if data.from_ else None
    fingerprint = request_fingerprint(data) if idempotency_key else None
    # Up to the hold the placement only reads: on PostgreSQL in autocommit, with no
    # BEGIN and COMMIT round trips (``core.readonly.read_first``); the gate's statement
    # commits on its own, the locked path's transaction begins with the wallet's lock.
    engine = gate.engine_of(session)
    reading = engine is not None and await readonly.read_first(session)
    if earlier := await placed_with_key(session, principal, idempotency_key, fingerprint):
        return Placed(earlier, replayed=True)
    placing = await placing_for(
        session, principal=principal, phone=destination.e164, country=destination.country
    )
    # Then the account: an organization opened by sign-up spends nothing before its
    # email is verified (told before a member the credential acts for is missing).
    if placing.unverified:
        raise EmailNotVerified()
    caller = placing.require_caller()
    check_consent(caller)
    if data.kind == CallKind.VIDEO:
        # Seats and features of plans this organization buys (billing.licenses).
        await licenses_service.require_feature(
            session, org_id=principal.org_id, user_id=caller.user_id, feature=Feature.VIDEO_CALLS
        )
    if placing.contact_blocked:
        raise ContactBlocked(f"{destination.e164} is blocked")
    if (wallet := placing.wallet) is None:
        raise PaymentRequired("No wallet pays for this caller; create and fund one first")
    # The candidate rates came with ``placing`` (one statement fewer than ``rate_for``).
    rate = billing_rates.price_of(
        placing.rates,
        country=destination.country,
        line_type=destination.line_type,
        default=settings.default_rate_per_minute,
        currency=wallet.currency,
        default_currency=settings.default_rate_currency,
    )

    def new_call(hold: Hold, allowed_s: int) -> Call:
        call = _new_call(
            caller=caller,
            data=data,
            destination=destination,
            from_number=from_number,
            contact_id=placing.contact_id,
            wallet=wallet,
            rate=rate,
            hold=hold,
            allowed_s=allowed_s,
            provider=carriers.for_placement(livemode=principal.livemode),
        )
        call.idempotency_key, call.request_fingerprint = idempotency_key, fingerprint
        return call

    first = _gated(caller, wallet, rate=rate, data=data, settings=settings)
    if engine is not None and first is not None:
        # One statement that commits on its own (``calls.gate``).
        try:
            return Placed(
                await _place_gated(
                    session, engine, caller=caller, wallet=wallet, first=first, new_call=new_call
                )
            )
        except IntegrityError as exc:
            if earlier := await placed_with_key(session, principal, idempotency_key, fingerprint):
                return Placed(earlier, replayed=True)  # a concurrent retry's, committed
            _refuse_as_key_in_use(idempotency_key, exc)
        except (RateLimited, PaymentRequired):
            # The gate counted the call a concurrent retry committed before this one.
            if earlier := await placed_with_key(session, principal, idempotency_key, fingerprint):
                return Placed(earlier, replayed=True)
            raise
    # Placements on the wallet queue here until the commit (``lock_payer``). Without spend
    # caps the money is held, and the calls in progress counted, by the statement that
    # stores the call (``calls.storing``).
    if reading:
        await session.commit()  # the autocommit reads end (see above)
    await lock_payer(session, wallet)
    await check_call_rate(session, caller)
    allowed_s, hold, taken = await _cover(
        session, caller=caller, wallet=wallet, rate=rate, data=data, settings=settings
    )
    if earlier := await placed_with_key(session, principal, idempotency_key, fingerprint):
        # A concurrent retry committed while this one waited for the wallet: a hold
        # already taken belongs to no call, so it goes back before this session commits.
        if taken:
            await billing_service.release_hold(session, wallet=wallet, hold=hold)
        return Placed(earlier, replayed=True)
    call = new_call(hold, allowed_s)
    await apply_retention(session, call=call, caller=caller)
    await _queue_dial(
        session,
        call=call,
        # Counted already where a spend cap applies (``check_limits_and_hold``).
        in_progress=None if taken else concurrency.of(caller),
        hold=None if taken else (wallet, hold),
    )
    return Placed(call)


# A hold worked out again this many times (the wallet moved each time): retry later.
_GATE_TRIES = 4


@dataclass(frozen=True, slots=True)
class _Covered:
    """A placement's hold worked out from its wallet as read, and what it was worked
    out for (again, should the wallet have moved before the gate)."""

    hold: Hold
    rate: Decimal
    max_duration: int


def _gated(
    caller: Caller, wallet: Wallet, *, rate: Decimal, data: CallCreate, settings: Settings
) -> _Covered | None:
    """The hold if the call goes through ``calls.gate``; None where a spend limit applies
    or the wallet as read does not cover a minute (the locked path then says so, after
    the agent session's calls per hour, as the gate would)."""
    if caps.has_caps(caller, wallet):
        return None
    max_duration = caps.max_duration_of(caller, requested_s=data.max_duration_s, settings=settings)
    try:
        hold = holds.cover(wallet, rate_per_minute=rate, max_minutes=ceil(max_duration / 60))
    except PaymentRequired:
        return None
    return _Covered(hold, rate, max_duration)


async def _place_gated(
    session: AsyncSession,
    engine: AsyncEngine,
    *,
    caller: Caller,
    wallet: Wallet,
    first: _Covered,
    new_call: Callable[[Hold, int], Call],
) -> Call:
    """Place the call through ``calls.gate`` with the ``first`` hold, worked out again
    from the balances the gate found if the wallet moved meanwhile."""
    in_progress = concurrency.of(caller)
    hold, max_duration = first.hold, first.max_duration
    for _ in range(_GATE_TRIES):
        call = new_call(hold, min(max_duration, hold.allowed_minutes * 60))
        await apply_retention(session, call=call, caller=caller)
        try:
            await gate.store(session, engine, call, gate.Gate(in_progress, caller, wallet, hold))
        except gate.WalletMoved:
            minutes = ceil(max_duration / 60)
            hold = holds.cover(wallet, rate_per_minute=first.rate, max_minutes=minutes)
            continue
        return call
    raise gate.busy()


async def _cover(
    session: AsyncSession,
    *,
    caller: Caller,
    wallet: Wallet,
    rate: Decimal,
    data: CallCreate,
    settings: Settings,
) -> tuple[int, Hold, bool]:
    """How long the call may last, its hold on ``wallet`` (locked by ``lock_payer``)
    and whether that hold is taken already: where a spend cap applies it is (the caps
    read what was spent, ``check_limits_and_hold``), otherwise it is only worked out,
    for the statement that stores the call to take."""
    if caps.has_caps(caller, wallet):
        allowed_s, hold = await caps.check_limits_and_hold(
            session,
            caller=caller,
            wallet=wallet,
            rate=rate,
            requested_s=data.max_duration_s,
            settings=settings,
        )
        return allowed_s, hold, True
    max_duration = caps.max_duration_of(caller, requested_s=data.max_duration_s, settings=settings)
    hold = holds.cover(wallet, rate_per_minute=rate, max_minutes=ceil(max_duration / 60))
    return min(max_duration, hold.allowed_minutes * 60), hold, False


async def placed_with_key(
    session: AsyncSession, principal: Principal, key: str | None, fingerprint: str | None
) -> Call | None:
    if key is None:
        return None
    call = await session.scalar(
        select(Call).where(Call.org_id == principal.org_id, Call.idempotency_key == key)
    )
    if call is not None and call.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key already placed a call with another body; "
            "use a new key for a new request"
        )
    return call


def check_consent(caller: Caller) -> None:
    if caller.agent_session_id is None:
        return
    if caller.agent is None or not caller.agent.calling_authorized:
        raise ConsentRequired("The agent session's user_consent.calling_authorized is false")


async def check_call_rate(session: AsyncSession, caller: Caller) -> None:
    """An agent session places at most its ``calls_per_hour``."""
    if caller.agent is None or not caller.agent.calls_per_hour:
        return
    recent = await session.scalar(
        select(func.count())
        .select_from(Call)
        .where(
            Call.org_id == caller.principal.org_id,
            Call.agent_session_id == caller.agent_session_id,
            Call.created_at >= utcnow() - timedelta(hours=1),
        )
    )
    if int(recent or 0) >= caller.agent.calls_per_hour:
        raise concurrency.over_call_rate(caller.agent.calls_per_hour)


def _new_call(
    *,
    caller: Caller,
    data: CallCreate,
    destination: PhoneNumber,
    from_number: str | None,
    contact_id: str | None,
    wallet: Wallet,
    rate: Decimal,
    hold: Hold,
    allowed_s: int,
    provider: ProviderName,
) -> Call:
    limits = caller.limits
    privacy = privacy_mode_for(caller, requested=data.privacy_mode)
    return Call(
        org_id=caller.principal.org_id,
        kind=data.kind,
        direction=CallDirection.OUTBOUND,
        status=CallStatus.QUEUED,
        user_id=caller.user_id,
        agent_session_id=caller.agent_session_id,
        api_key_id=caller.api_key_id,
        wallet_id=wallet.id,
        contact_id=contact_id,
        from_number=from_number or limits.default_caller_id,
        to_number=destination.e164,
        to_number_formatted=destination.international,
        to_country=destination.country,
        to_line_type=destination.line_type,
        to_carrier=destination.carrier,
        privacy_mode=privacy,
        caller_id_name=data.caller_id_name or ("Anonymous" if privacy else None),
        max_duration_seconds=allowed_s,
        rate_per_minute=rate,
        currency=wallet.currency,
        hold_amount=hold.amount,
        hold_minutes=hold.minutes,
        recording_enabled=data.recording_enabled,
        transcription_enabled=data.transcription_enabled,
        live_agent=data.live_agent,
        live_audio=data.live_agent and data.live_audio,
        provider=provider,
        livemode=caller.principal.livemode,
        metadata_=data.metadata.model_dump(exclude={"tags"}, exclude_none=True),
        tags=data.metadata.tags,
    )


def privacy_mode_for(caller: Caller, *, requested: bool | None = None) -> bool:
    """The call's privacy mode: the request's, else the user's; an agent session's on top."""
    privacy = caller.limits.privacy_mode if requested is None else requested
    if caller.agent is not None:
        privacy = privacy or caller.agent.privacy_mode
    return privacy


async def apply_retention(session: AsyncSession, *, call: Call, caller: Caller) -> None:
    """Carry the agent session's ``data_retention`` consent onto its call. A
    ``session_only`` call's personal data expires with the session (sooner if the
    session is terminated); a ``30_days`` call's 30 days after it ends."""
    if caller.agent is None or caller.agent_session_id is None:
        return
    retention = DataRetention(caller.agent.data_retention)
    call.data_retention = retention
    if retention == DataRetention.SESSION_ONLY:
        # Its expiry only, read: the placement's reads change nothing (``read_first``).
        expires_at = await session.scalar(
            select(AgentSession.expires_at).where(
                AgentSession.org_id == call.org_id, AgentSession.id == caller.agent_session_id
            )
        )
        if expires_at is None:
            raise NotFound("Agent session not found")
        call.personal_data_expires_at = expires_at


async def _queue_dial(
    session: AsyncSession,
    *,
    call: Call,
    in_progress: concurrency.InProgress | None,
    hold: tuple[Wallet, Hold] | None,
) -> None:
    """Store the call (one Core INSERT: ``calls.storing``), taking its ``hold`` if one
    is given, and ask for it to be dialed once the transaction commits
    (``call.queued``, in the same statement on PostgreSQL; ``calls.dialing`` is
    imported above, so its consumer hears it)."""
    try:
        await insert_call_and_record(
            session,
            call,
            events.CALL_QUEUED,
            lifecycle.call_payload,
            in_progress=in_progress,
            hold=hold,
        )
    except IntegrityError as exc:
        _refuse_as_key_in_use(call.idempotency_key, exc)


def _refuse_as_key_in_use(key: str | None, exc: IntegrityError) -> NoReturn:
    """Raise ``exc`` again, or, for a placement with an Idempotency-Key, as another request
    with that key placing its call meanwhile: the placement rolled back (hold included)
    and the retry answers with that call."""
    if key is None:
        raise exc
    raise IdempotencyKeyInUse(
        "A request with this Idempotency-Key placed its call meanwhile; retry",
        headers={"Retry-After": "1"},
    ) from exc
