"""Placing calls and working with them: list, get, actions, quality, review, analysis."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from math import ceil
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import rates as billing_rates
from commbase.billing import service as billing_service
from commbase.billing.models import Wallet
from commbase.billing.service import Hold
from commbase.calls import dialing, events, lifecycle
from commbase.calls.enums import (
    ActionKind,
    CallDirection,
    CallStatus,
    EndReason,
    EventSource,
    ProviderName,
    Quality,
)
from commbase.calls.models import Call, CallAction
from commbase.calls.numbers import parse_destination
from commbase.calls.providers import Carriers, ProviderError, ProviderEvent
from commbase.calls.providers.simulator import elapsed_call_seconds
from commbase.calls.providers.twilio import event_from_callback
from commbase.calls.quality import quality_label
from commbase.calls.schemas import AnalysisUpdate, CallCreate, QualityReport, ReviewCreate
from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.auth import AgentGrant, Principal, PrincipalKind
from commbase.core.db import after_commit, json_array_contains
from commbase.core.errors import (
    Conflict,
    ConsentRequired,
    ContactBlocked,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    PaymentRequired,
    RateLimited,
)
from commbase.core.money import minutes_affordable
from commbase.core.pagination import PageParams, paginate
from commbase.core.phones import PhoneNumber
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.identity.agent_sessions import service as agent_sessions
from commbase.identity.enums import DataRetention
from commbase.identity.models import User
from commbase.settings import Settings

DEFAULT_MAX_CONCURRENT = 5


# ------------------------------------------------------------------- placing


@dataclass(frozen=True, slots=True)
class CallerLimits:
    """What the placing user's stored settings allow (``users.limits`` and
    ``users.ai_settings``); None where nothing is set."""

    max_call_duration_s: int | None = None
    ai_max_call_duration_s: int | None = None
    max_concurrent_calls: int | None = None
    daily_spend_limit: int | None = None
    privacy_mode: bool = False
    default_caller_id: str | None = None

    @classmethod
    def of(cls, user: User | None) -> CallerLimits:
        if user is None:
            return cls()

        def number(source: dict[str, Any], key: str) -> int | None:
            value = source.get(key)
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

        caller_id = user.preferences.get("default_caller_id")
        return cls(
            max_call_duration_s=number(user.limits, "max_call_duration"),
            ai_max_call_duration_s=number(user.ai_settings, "max_call_duration"),
            max_concurrent_calls=number(user.limits, "max_concurrent_calls"),
            daily_spend_limit=number(user.limits, "daily_spend_limit"),
            privacy_mode=user.preferences.get("privacy_mode") is True,
            default_caller_id=caller_id if isinstance(caller_id, str) else None,
        )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who places a call: the credential, the user it acts for, and their limits."""

    principal: Principal
    user_id: str | None
    agent: AgentGrant | None
    agent_session_id: str | None
    api_key_id: str | None
    limits: CallerLimits
    timezone: str


@dataclass(frozen=True, slots=True)
class Placed:
    """A placement's outcome: the call, and whether an earlier request had placed it."""

    call: Call
    replayed: bool = False


def request_fingerprint(data: CallCreate) -> str:
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
    is dialed by ``calls.dialing`` once this transaction has committed.

    With an ``idempotency_key`` (the request's credential-scoped key), a call already
    placed with it is returned instead of placing another one.
    """
    fingerprint = request_fingerprint(data) if idempotency_key else None
    if earlier := await _placed_with_key(session, principal, idempotency_key, fingerprint):
        return Placed(earlier, replayed=True)
    destination = parse_destination(data.to)
    caller = await _caller(session, principal=principal)
    _check_consent(caller)
    await _check_call_rate(session, caller)
    contact_id = await _check_contact(session, principal=principal, destination=destination)
    wallet, rate = await _payer_and_rate(
        session, caller=caller, destination=destination, settings=settings
    )
    if earlier := await _placed_with_key(session, principal, idempotency_key, fingerprint):
        # A concurrent retry committed while this one waited for the wallet.
        return Placed(earlier, replayed=True)
    await _check_concurrency(session, caller)
    max_duration = _max_duration(caller, data=data, settings=settings)
    caps = await _spend_caps(session, caller=caller, wallet=wallet)
    hold = await _reserve(session, wallet=wallet, rate=rate, max_duration=max_duration, caps=caps)
    call = _new_call(
        caller=caller,
        data=data,
        destination=destination,
        contact_id=contact_id,
        wallet=wallet,
        rate=rate,
        hold=hold,
        allowed_s=min(max_duration, hold.allowed_minutes * 60),
        provider=carriers.for_placement(livemode=principal.livemode),
    )
    call.idempotency_key, call.request_fingerprint = idempotency_key, fingerprint
    await _apply_retention(session, call=call, caller=caller)
    await _queue_dial(session, call=call)
    return Placed(call)


async def _placed_with_key(
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


async def _caller(session: AsyncSession, *, principal: Principal) -> Caller:
    org = await identity_service.get_organization(session, org_id=principal.org_id)
    user = (
        await identity_service.get_member_user(
            session, org_id=principal.org_id, user_id=principal.user_id
        )
        if principal.user_id
        else None
    )
    is_agent = principal.kind == PrincipalKind.AGENT_SESSION
    is_key = principal.kind == PrincipalKind.API_KEY
    return Caller(
        principal=principal,
        user_id=principal.user_id,
        agent=principal.agent if is_agent else None,
        agent_session_id=principal.credential_id if is_agent else None,
        api_key_id=principal.credential_id if is_key else None,
        limits=CallerLimits.of(user),
        timezone=org.timezone,
    )


def _check_consent(caller: Caller) -> None:
    if caller.agent_session_id is None:
        return
    if caller.agent is None or not caller.agent.calling_authorized:
        raise ConsentRequired("The agent session's user_consent.calling_authorized is false")


async def _check_call_rate(session: AsyncSession, caller: Caller) -> None:
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
        raise RateLimited(
            f"This agent session may place {caller.agent.calls_per_hour} calls per hour",
            headers={"Retry-After": "60"},
        )


async def _check_contact(
    session: AsyncSession, *, principal: Principal, destination: PhoneNumber
) -> str | None:
    """The contact called, if the book has one; ContactBlocked if it is blocked."""
    if await contacts_service.is_blocked(session, org_id=principal.org_id, phone=destination.e164):
        raise ContactBlocked(f"{destination.e164} is blocked")
    contact = await contacts_service.find_by_phone(
        session, org_id=principal.org_id, phone=destination.e164
    )
    return contact.id if contact else None


async def _payer_and_rate(
    session: AsyncSession, *, caller: Caller, destination: PhoneNumber, settings: Settings
) -> tuple[Wallet, Decimal]:
    """The paying wallet, locked (placements on one wallet are checked one at a time),
    and the per-minute rate for the destination in the wallet's currency."""
    org_id = caller.principal.org_id
    wallet = await billing_service.payer_wallet(
        session, org_id=org_id, user_id=caller.user_id, agent_session_id=caller.agent_session_id
    )
    if wallet is None:
        raise PaymentRequired("No wallet pays for this caller; create and fund one first")
    # Looked up before the lock: the wallet row stays locked as briefly as possible.
    rate = await billing_rates.rate_for(
        session,
        org_id=org_id,
        country=destination.country,
        line_type=destination.line_type,
        default=settings.default_rate_per_minute,
        currency=wallet.currency,
        default_currency=settings.default_rate_currency,
    )
    wallet = await billing_service.get_wallet(
        session, org_id=org_id, wallet_id=wallet.id, for_update=True
    )
    return wallet, rate


async def _check_concurrency(session: AsyncSession, caller: Caller) -> None:
    """At most so many calls in progress per credential (the key's limit, the session's,
    or the user's), and per user where the user's limits say so."""
    principal = caller.principal
    limit = DEFAULT_MAX_CONCURRENT
    if principal.key is not None:
        limit = principal.key.max_concurrent_calls
    if caller.limits.max_concurrent_calls is not None:
        limit = min(limit, caller.limits.max_concurrent_calls)
    if caller.api_key_id:
        owner = Call.api_key_id == caller.api_key_id
    elif caller.agent_session_id:
        owner = Call.agent_session_id == caller.agent_session_id
    else:
        owner = Call.user_id == (caller.user_id or "")
    active = await session.scalar(
        select(func.count())
        .select_from(Call)
        .where(Call.org_id == principal.org_id, Call.status.in_(lifecycle.ACTIVE), owner)
    )
    if int(active or 0) >= limit:
        raise RateLimited(
            f"At most {limit} calls may be in progress at once", headers={"Retry-After": "5"}
        )


def _max_duration(caller: Caller, *, data: CallCreate, settings: Settings) -> int:
    """The longest the call may last: the request's, the server's, the user's limits and
    AI settings, and the agent session's limit, whichever is shortest."""
    candidates = [
        settings.max_call_duration_s,
        data.max_duration_s,
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
    session: AsyncSession, *, wallet: Wallet, rate: Decimal, max_duration: int, caps: list[int]
) -> Hold:
    """Hold what the call may cost: its whole duration, less if a spend cap or the
    wallet's funds allow less; PaymentRequired below one minute."""
    max_minutes = ceil(max_duration / 60)
    if caps:
        capped = minutes_affordable(max(0, min(caps)), rate, wallet.currency)
        if capped < 1 and wallet.balance_minutes - wallet.held_minutes < 1:
            raise PaymentRequired("The spend limit does not cover one more minute")
        max_minutes = min(max_minutes, max(capped, 1))
    return await billing_service.hold_for_call(
        session, wallet=wallet, rate_per_minute=rate, max_minutes=max_minutes
    )


def _new_call(
    *,
    caller: Caller,
    data: CallCreate,
    destination: PhoneNumber,
    contact_id: str | None,
    wallet: Wallet,
    rate: Decimal,
    hold: Hold,
    allowed_s: int,
    provider: ProviderName,
) -> Call:
    limits = caller.limits
    privacy = limits.privacy_mode if data.privacy_mode is None else data.privacy_mode
    if caller.agent is not None:
        privacy = privacy or caller.agent.privacy_mode
    from_number = parse_destination(data.from_, field="from").e164 if data.from_ else None
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
        provider=provider,
        livemode=caller.principal.livemode,
        metadata_=data.metadata.model_dump(exclude={"tags"}, exclude_none=True),
        tags=data.metadata.tags,
    )


async def _apply_retention(session: AsyncSession, *, call: Call, caller: Caller) -> None:
    """Carry the agent session's ``data_retention`` consent onto its call. A
    ``session_only`` call's personal data expires with the session (sooner if the
    session is terminated); a ``30_days`` call's 30 days after it ends."""
    if caller.agent is None or caller.agent_session_id is None:
        return
    retention = DataRetention(caller.agent.data_retention)
    call.data_retention = retention
    if retention == DataRetention.SESSION_ONLY:
        agent = await agent_sessions.get_session(
            session, org_id=call.org_id, session_id=caller.agent_session_id
        )
        call.personal_data_expires_at = agent.expires_at


async def _queue_dial(session: AsyncSession, *, call: Call) -> None:
    """Store the call and ask for it to be dialed once the transaction commits."""
    session.add(call)
    try:
        await session.flush()
    except IntegrityError as exc:
        if call.idempotency_key is None:
            raise
        # Another request with this key committed its call between our checks: this
        # transaction rolls back (hold included) and the retry answers with that call.
        raise IdempotencyKeyInUse(
            "A request with this Idempotency-Key placed its call meanwhile; retry",
            headers={"Retry-After": "1"},
        ) from exc
    # ``calls.dialing`` is imported above, so its consumer hears this event.
    await outbox.record(
        session, events.CALL_QUEUED, lifecycle.call_payload(call), org_id=call.org_id
    )


# ------------------------------------------------------------------- reading


def _owned_by(principal: Principal) -> str | None:
    """Agent sessions see only their own calls."""
    return principal.credential_id if principal.kind == PrincipalKind.AGENT_SESSION else None


async def get_call(session: AsyncSession, *, principal: Principal, call_id: str) -> Call:
    statement = select(Call).where(Call.org_id == principal.org_id, Call.id == call_id)
    if owner := _owned_by(principal):
        statement = statement.where(Call.agent_session_id == owner)
    call = await session.scalar(statement)
    if call is None:
        raise NotFound("Call not found")
    return call


async def lock_call(session: AsyncSession, *, principal: Principal, call_id: str) -> Call:
    await get_call(session, principal=principal, call_id=call_id)
    return await lifecycle.load_for_update(session, org_id=principal.org_id, call_id=call_id)


async def list_calls(
    session: AsyncSession,
    *,
    principal: Principal,
    params: PageParams,
    status: str | None = None,
    kind: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    number: str | None = None,
    tag: str | None = None,
    user_id: str | None = None,
    agent_session_id: str | None = None,
) -> tuple[Sequence[Call], str | None]:
    statement = select(Call).where(Call.org_id == principal.org_id)
    if owner := _owned_by(principal):
        statement = statement.where(Call.agent_session_id == owner)
    if status:
        statement = statement.where(Call.status == status)
    if kind:
        statement = statement.where(Call.kind == kind)
    if created_from:
        statement = statement.where(Call.created_at >= created_from)
    if created_to:
        statement = statement.where(Call.created_at < created_to)
    if number:
        statement = statement.where((Call.to_number == number) | (Call.from_number == number))
    if tag:
        dialect = session.get_bind().dialect.name
        statement = statement.where(json_array_contains(Call.tags, tag, dialect=dialect))
    if user_id:
        statement = statement.where(Call.user_id == user_id)
    if agent_session_id:
        statement = statement.where(Call.agent_session_id == agent_session_id)
    return await paginate(session, statement, id_column=Call.id, params=params)


async def list_actions(session: AsyncSession, *, call: Call) -> Sequence[CallAction]:
    return (
        await session.scalars(
            select(CallAction)
            .where(CallAction.org_id == call.org_id, CallAction.call_id == call.id)
            .order_by(CallAction.id)
        )
    ).all()


# ------------------------------------------------------------------- changing


async def perform_action(
    session: AsyncSession,
    *,
    call: Call,
    action: ActionKind,
    parameters: dict[str, Any],
    carriers: Carriers,
) -> CallAction:
    """Record an in-call action and carry it out; a hangup ends the call. A call not
    dialed yet can only be hung up: it is canceled and never dialed."""
    if lifecycle.is_final(call.status):
        raise Conflict(f"The call is {call.status}; actions need a call in progress")
    if call.provider_call_id is None and action != ActionKind.HANGUP:
        raise Conflict("The call is still being dialed; only hangup is possible until it is")
    record = CallAction(org_id=call.org_id, call_id=call.id, action=action, parameters=parameters)
    session.add(record)
    await session.flush()
    if call.provider_call_id is None:
        # The dial effect finds the call canceled and does not dial it (or, if it is
        # dialing right now, hangs the carrier's call up as soon as it has its id).
        await _end_by_caller(session, call=call, answered=False)
        return record
    provider = carriers.get(call.provider)
    try:
        await provider.act(call=call, action=action, parameters=parameters)
    except ProviderError as exc:
        raise Conflict(f"The carrier refused the action: {exc}") from exc
    if action == ActionKind.HANGUP and provider.name == ProviderName.SIMULATOR:
        answered = call.answered_at is not None and call.status == CallStatus.IN_PROGRESS
        await _end_by_caller(session, call=call, answered=answered)
    return record


async def _end_by_caller(session: AsyncSession, *, call: Call, answered: bool) -> None:
    now = utcnow()
    duration = 0
    if answered and call.answered_at is not None:
        duration = elapsed_call_seconds(call, since=call.answered_at, now=now)
    await lifecycle.apply_event(
        session,
        call=call,
        event=ProviderEvent(
            status=CallStatus.COMPLETED if answered else CallStatus.CANCELED,
            occurred_at=now,
            duration_s=duration,
            end_reason=EndReason.CALLER_HANGUP,
        ),
        source=EventSource.ACTION,
    )


async def report_quality(session: AsyncSession, *, call: Call, report: QualityReport) -> Call:
    data = report.model_dump(exclude_unset=True)
    for field, value in data.items():
        setattr(call, field, value)
    previous = call.quality
    call.quality = quality_label(
        mos=call.mos_score,
        latency_ms=call.latency_ms,
        jitter_ms=call.jitter_ms,
        packet_loss=call.packet_loss,
    )
    if call.quality == Quality.POOR and previous != Quality.POOR:
        await outbox.record(
            session,
            events.CALL_QUALITY_DEGRADED,
            {
                "id": call.id,
                "mos_score": call.mos_score,
                "packet_loss": call.packet_loss,
                "latency_ms": call.latency_ms,
            },
            org_id=call.org_id,
        )
    await session.flush()
    return call


async def review_call(session: AsyncSession, *, call: Call, review: ReviewCreate) -> Call:
    if call.review_rating is not None:
        raise Conflict("This call has already been reviewed")
    if call.status != CallStatus.COMPLETED:
        raise Conflict("Only a completed call can be reviewed")
    call.review_rating = review.rating
    call.review_comment = review.comment
    call.reviewed_at = utcnow()
    if review.problem_solved is not None:
        call.problem_solved = review.problem_solved
    if call.user_id:
        await identity_service.record_review_for_user(
            session, user_id=call.user_id, rating=review.rating
        )
    await session.flush()
    return call


async def update_analysis(session: AsyncSession, *, call: Call, changes: AnalysisUpdate) -> Call:
    data = changes.model_dump(mode="json", exclude_unset=True)
    costs = data.pop("costs", None)
    call.analysis = {**call.analysis, **data}
    if costs is not None:
        breakdown = {**call.cost_breakdown, **costs}
        breakdown["total_cost"] = int(breakdown.get("call_cost") or 0) + sum(costs.values())
        call.cost_breakdown = breakdown
    await session.flush()
    return call


# ------------------------------------------------------------------ carrier reports


async def apply_twilio_report(
    session: AsyncSession, *, params: dict[str, str], call_ref: str | None, carriers: Carriers
) -> bool:
    """Apply a verified Twilio status callback; True if it named a call we know.

    The callback finds its call by Twilio's call SID, else by the call id in the
    (signed) callback URL: that adopts the SID of a call whose dialing process died
    before storing it. A call adopted after commbase gave up on it is hung up.
    """
    event = event_from_callback(params)
    sid = params.get("CallSid", "")
    if event is None or not sid:
        return False
    found = (
        await session.execute(
            select(Call.id, Call.org_id).where(
                Call.provider == ProviderName.TWILIO, Call.provider_call_id == sid
            )
        )
    ).first()
    if found is None and call_ref:
        found = (
            await session.execute(
                select(Call.id, Call.org_id).where(
                    Call.id == call_ref,
                    Call.provider == ProviderName.TWILIO,
                    Call.provider_call_id.is_(None),
                )
            )
        ).first()
        if found is not None:
            call = await lifecycle.load_for_update(session, org_id=found.org_id, call_id=found.id)
            if call.provider_call_id is not None:
                return False
            call.provider_call_id = sid
            call.provider_state = {"direction": "outbound-api"}
            if lifecycle.is_final(call.status):
                provider = carriers.get(ProviderName.TWILIO)
                after_commit(session, lambda: dialing.hang_up(provider, call))
                return True
    if found is None:
        return False
    call = await lifecycle.load_for_update(session, org_id=found.org_id, call_id=found.id)
    await lifecycle.apply_event(session, call=call, event=event, source=EventSource.TWILIO)
    return True
