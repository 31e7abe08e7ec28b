"""Working with placed calls: list, get and lock them, in-call actions, quality
reports, reviews, analysis, and Twilio's status callbacks. Placing a call is
``calls.placement``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service as billing_service
from commbase.calls import dialing, events, lifecycle
from commbase.calls.enums import (
    ActionKind,
    CallStatus,
    EndReason,
    EventSource,
    ProviderName,
    Quality,
)
from commbase.calls.models import Call, CallAction
from commbase.calls.providers import Carriers, ProviderError, ProviderEvent
from commbase.calls.providers.simulator import elapsed_call_seconds
from commbase.calls.providers.twilio import event_from_callback
from commbase.calls.quality import quality_label
from commbase.calls.schemas import AnalysisUpdate, QualityReport, ReviewCreate
from commbase.core import outbox
from commbase.core.auth import Principal, PrincipalKind
from commbase.core.db import after_commit, json_array_contains
from commbase.core.errors import Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import service as identity_service

# ------------------------------------------------------------------- reading


def owned_by(principal: Principal) -> str | None:
    """Agent sessions see only their own calls."""
    return principal.credential_id if principal.kind == PrincipalKind.AGENT_SESSION else None


async def get_call(session: AsyncSession, *, principal: Principal, call_id: str) -> Call:
    statement = select(Call).where(Call.org_id == principal.org_id, Call.id == call_id)
    if owner := owned_by(principal):
        statement = statement.where(Call.agent_session_id == owner)
    call = await session.scalar(statement)
    if call is None:
        raise NotFound("Call not found")
    return call


async def require_call(session: AsyncSession, *, org_id: str, call_id: str) -> None:
    """NotFound unless ``call_id`` is a call of the organization (for other domains)."""
    found = await session.scalar(select(Call.id).where(Call.org_id == org_id, Call.id == call_id))
    if found is None:
        raise NotFound("Call not found")


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
    if owner := owned_by(principal):
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
    if call.provider == "webrtc":
        raise Conflict(
            "A video room's call has no carrier: end it with POST /v1/video/rooms/{id}/end"
        )
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
    await relabel_quality(session, call)
    return call


async def relabel_quality(session: AsyncSession, call: Call) -> None:
    """Label the call's quality from its figures; announce a fall to poor once."""
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
    session: AsyncSession,
    *,
    params: dict[str, str],
    call_ref: str | None,
    carriers: Carriers,
    debits: billing_service.GroupedDebits | None = None,
) -> bool:
    """Apply a verified Twilio status callback; True if it named a call we know.

    The callback finds its call by Twilio's call SID, else by the call id in the
    (signed) callback URL: that adopts the SID of a call whose dialing process died
    before storing it. A call adopted after commbase gave up on it is hung up.
    With ``debits``, a final report's charge joins its wallet's group commit.
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
    await lifecycle.apply_event(
        session, call=call, event=event, source=EventSource.TWILIO, debits=debits
    )
    return True
