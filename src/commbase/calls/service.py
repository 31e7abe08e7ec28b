"""Placing calls and working with them: list, get, actions, quality, review, analysis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from math import ceil
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import rates as billing_rates
from commbase.billing import service as billing_service
from commbase.calls import events, lifecycle
from commbase.calls.models import Call, CallAction
from commbase.calls.numbers import parse_destination
from commbase.calls.providers import CallProvider, ProviderError, ProviderEvent
from commbase.calls.providers.simulator import elapsed_call_seconds
from commbase.calls.quality import quality_label
from commbase.calls.schemas import AnalysisUpdate, CallCreate, QualityReport, ReviewCreate
from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.db import json_array_contains
from commbase.core.errors import (
    Conflict,
    ConsentRequired,
    ContactBlocked,
    NotFound,
    PaymentRequired,
    RateLimited,
)
from commbase.core.money import minutes_affordable
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.settings import Settings

DEFAULT_MAX_CONCURRENT = 5


def _today_start(timezone: str) -> datetime:
    local = utcnow().astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def _count_active(session: AsyncSession, *, org_id: str, **owner: str) -> int:
    statement = (
        select(func.count())
        .select_from(Call)
        .where(Call.org_id == org_id, Call.status.in_(lifecycle.ACTIVE))
    )
    for column, value in owner.items():
        statement = statement.where(getattr(Call, column) == value)
    return int(await session.scalar(statement) or 0)


async def place_call(
    session: AsyncSession,
    *,
    principal: Principal,
    data: CallCreate,
    provider: CallProvider,
    settings: Settings,
) -> Call:
    """Check consent, limits and funds, reserve the money, and dial."""
    destination = parse_destination(data.to)
    from_number = parse_destination(data.from_, field="from").e164 if data.from_ else None
    org = await identity_service.get_organization(session, org_id=principal.org_id)
    agent_session_id = (
        principal.credential_id if principal.kind == PrincipalKind.AGENT_SESSION else None
    )
    user = (
        await identity_service.get_member_user(
            session, org_id=principal.org_id, user_id=principal.user_id
        )
        if principal.user_id
        else None
    )
    user_limits: dict[str, Any] = user.limits if user else {}
    max_duration = min(
        data.max_duration_s or settings.max_call_duration_s,
        settings.max_call_duration_s,
        int(user_limits.get("max_call_duration") or settings.max_call_duration_s),
    )
    privacy = bool(data.privacy_mode)
    if user is not None and data.privacy_mode is None:
        privacy = bool(user.preferences.get("privacy_mode"))
        from_number = from_number or user.preferences.get("default_caller_id")

    spend_caps: list[int] = []
    if agent_session_id:
        grant = principal.agent
        assert grant is not None
        if not grant.calling_authorized:
            raise ConsentRequired("The agent session's user_consent.calling_authorized is false")
        privacy = privacy or grant.privacy_mode
        max_duration = min(max_duration, grant.max_call_duration or max_duration)
        per_hour = grant.calls_per_hour
        if per_hour:
            recent = await session.scalar(
                select(func.count())
                .select_from(Call)
                .where(
                    Call.org_id == principal.org_id,
                    Call.agent_session_id == agent_session_id,
                    Call.created_at >= utcnow() - timedelta(hours=1),
                )
            )
            if int(recent or 0) >= per_hour:
                raise RateLimited(
                    f"This agent session may place {per_hour} calls per hour",
                    headers={"Retry-After": "60"},
                )
        if grant.max_spend_limit is not None:
            from commbase.identity.agent_sessions import service as agent_sessions

            agent = await agent_sessions.get_session(
                session, org_id=principal.org_id, session_id=agent_session_id
            )
            spend_caps.append(grant.max_spend_limit - int(agent.stats.get("total_spent", 0)))

    contact = await contacts_service.find_by_phone(
        session, org_id=principal.org_id, phone=destination.e164
    )
    if await contacts_service.is_blocked(session, org_id=principal.org_id, phone=destination.e164):
        raise ContactBlocked(f"{destination.e164} is blocked")

    wallet = await billing_service.payer_wallet(
        session,
        org_id=principal.org_id,
        user_id=principal.user_id,
        agent_session_id=agent_session_id,
    )
    if wallet is None:
        raise PaymentRequired("No wallet pays for this caller; create and fund one first")
    # Looked up before the lock: the wallet row stays locked as briefly as possible.
    rate = await billing_rates.rate_for(
        session,
        org_id=principal.org_id,
        country=destination.country,
        line_type=destination.line_type,
        default=settings.default_rate_per_minute,
    )
    # Lock the paying wallet: placements on one wallet are checked one at a time.
    wallet = await billing_service.get_wallet(
        session, org_id=principal.org_id, wallet_id=wallet.id, for_update=True
    )

    concurrency_limit, owner = DEFAULT_MAX_CONCURRENT, {"user_id": principal.user_id or ""}
    if principal.kind == PrincipalKind.API_KEY:
        if principal.key is not None:
            concurrency_limit = principal.key.max_concurrent_calls
        owner = {"api_key_id": principal.credential_id}
    elif agent_session_id:
        owner = {"agent_session_id": agent_session_id}
    concurrency_limit = int(user_limits.get("max_concurrent_calls") or concurrency_limit)
    if await _count_active(session, org_id=principal.org_id, **owner) >= concurrency_limit:
        raise RateLimited(
            f"At most {concurrency_limit} calls may be in progress at once",
            headers={"Retry-After": "5"},
        )

    if user is not None and user_limits.get("daily_spend_limit") is not None:
        spent = await billing_service.spent_since(
            session, org_id=principal.org_id, since=_today_start(org.timezone), user_id=user.id
        )
        spend_caps.append(int(user_limits["daily_spend_limit"]) - spent)
    if wallet.daily_spend_limit is not None:
        spent = await billing_service.spent_since(
            session, org_id=principal.org_id, since=_today_start(org.timezone), wallet_id=wallet.id
        )
        spend_caps.append(wallet.daily_spend_limit - spent)

    max_minutes = ceil(max_duration / 60)
    if spend_caps:
        capped = minutes_affordable(max(0, min(spend_caps)), rate, wallet.currency)
        if capped < 1 and wallet.balance_minutes - wallet.held_minutes < 1:
            raise PaymentRequired("The spend limit does not cover one more minute")
        max_minutes = min(max_minutes, max(capped, 1))
    hold = await billing_service.hold_for_call(
        session, wallet=wallet, rate_per_minute=rate, max_minutes=max_minutes
    )
    allowed_s = min(max_duration, hold.allowed_minutes * 60)

    call = Call(
        org_id=principal.org_id,
        kind=data.kind,
        direction="outbound",
        user_id=principal.user_id,
        agent_session_id=agent_session_id,
        api_key_id=principal.credential_id if principal.kind == PrincipalKind.API_KEY else None,
        wallet_id=wallet.id,
        contact_id=contact.id if contact else None,
        from_number=from_number,
        to_number=destination.e164,
        to_number_formatted=destination.international,
        to_country=destination.country,
        to_line_type=destination.line_type,
        to_carrier=destination.carrier,
        privacy_mode=privacy,
        caller_id_name=data.caller_id_name or ("Anonymous" if privacy else None),
        status="queued",
        max_duration_seconds=allowed_s,
        rate_per_minute=rate,
        currency=wallet.currency,
        hold_amount=hold.amount,
        hold_minutes=hold.minutes,
        recording_enabled=data.recording_enabled,
        transcription_enabled=data.transcription_enabled,
        provider=provider.name,
        metadata_=data.metadata.model_dump(exclude={"tags"}, exclude_none=True),
        tags=data.metadata.tags,
    )
    session.add(call)
    await session.flush()
    try:
        dialed = await provider.dial(call=call, allowed_s=allowed_s)
    except ProviderError as exc:
        await lifecycle.apply_event(
            session,
            call=call,
            event=ProviderEvent(
                status="failed",
                occurred_at=utcnow(),
                end_reason="failed",
                details={"error": str(exc)[:500]},
            ),
            source="dial",
        )
        return call
    call.provider_call_id = dialed.provider_call_id
    call.provider_state = dialed.state
    await session.flush()
    return call


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
    action: str,
    parameters: dict[str, Any],
    provider: CallProvider,
) -> CallAction:
    """Record an in-call action and carry it out; a hangup ends the call."""
    if lifecycle.is_final(call.status):
        raise Conflict(f"The call is {call.status}; actions need a call in progress")
    record = CallAction(org_id=call.org_id, call_id=call.id, action=action, parameters=parameters)
    session.add(record)
    await session.flush()
    try:
        await provider.act(call=call, action=action, parameters=parameters)
    except ProviderError as exc:
        raise Conflict(f"The carrier refused the action: {exc}") from exc
    if action == "hangup" and provider.name == "simulator":
        now = utcnow()
        answered = call.answered_at is not None and call.status == "in-progress"
        await lifecycle.apply_event(
            session,
            call=call,
            event=ProviderEvent(
                status="completed" if answered else "canceled",
                occurred_at=now,
                duration_s=(
                    elapsed_call_seconds(call, since=call.answered_at, now=now)
                    if answered and call.answered_at
                    else 0
                ),
                end_reason="caller_hangup",
            ),
            source="action",
        )
    return record


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
    if call.quality == "poor" and previous != "poor":
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
    if call.status != "completed":
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
