"""The call state machine, fed by provider reports.

    queued -> initiated -> ringing -> in-progress -> completed | busy | failed
                                                     | no-answer | canceled

Reports may arrive late, twice or out of order. A report moves the call only
forward; a report for a step already passed only fills in that step's
timestamp if it was missing; nothing after a final state changes money or
status. The caller holds the call row locked (``load_for_update``), so two
reports for one call are applied one after the other. The final state is the
same whatever order the reports came in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service as billing_service
from commbase.billing.service import Hold
from commbase.calls import events
from commbase.calls.models import Call, CallEvent
from commbase.calls.providers.base import ProviderEvent
from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.errors import NotFound
from commbase.core.ids import new_id
from commbase.core.money import billable_minutes
from commbase.identity import service as identity_service
from commbase.identity.agent_sessions import service as agent_sessions

ACTIVE = ("queued", "initiated", "ringing", "in-progress")
FINAL = ("completed", "busy", "failed", "no-answer", "canceled")
_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
_DEFAULT_END_REASON = {
    "completed": "normal",
    "busy": "busy",
    "failed": "failed",
    "no-answer": "no_answer",
    "canceled": "canceled",
}


def rank(status: str) -> int:
    return 4 if status in FINAL else _RANK.get(status, 0)


def is_final(status: str) -> bool:
    return status in FINAL


async def load_for_update(session: AsyncSession, *, org_id: str, call_id: str) -> Call:
    call = await session.scalar(
        select(Call).where(Call.org_id == org_id, Call.id == call_id).with_for_update()
    )
    if call is None:
        raise NotFound("Call not found")
    return call


def call_payload(call: Call) -> dict[str, Any]:
    """The event payload; a private call's carries no personal data."""
    payload: dict[str, Any] = {
        "id": call.id,
        "kind": call.kind,
        "status": call.status,
        "direction": call.direction,
        "duration_seconds": call.duration_seconds,
        "billable_minutes": call.billable_minutes,
        "cost_amount": call.cost_amount,
        "currency": call.currency,
        "end_reason": call.end_reason,
        "privacy_mode": call.privacy_mode,
        "agent_session_id": call.agent_session_id,
        "user_id": call.user_id,
    }
    if not call.privacy_mode:
        payload.update(to=call.to_number, to_country=call.to_country, tags=call.tags)
    return payload


def _fill_timeline(call: Call, event: ProviderEvent) -> None:
    at = event.occurred_at
    if event.status == "initiated" and call.initiated_at is None:
        call.initiated_at = at
    elif event.status == "ringing" and call.ringing_at is None:
        call.ringing_at = at
    elif event.status == "in-progress" and call.answered_at is None:
        call.answered_at = at
    elif is_final(event.status) and call.ended_at is None:
        call.ended_at = at
    # Waiting starts when the call was placed, as the caller experiences it.
    start = call.created_at
    if call.answered_at is not None and start is not None:
        call.waiting_time_seconds = max(0, round((call.answered_at - start).total_seconds()))


async def apply_event(
    session: AsyncSession, *, call: Call, event: ProviderEvent, source: str
) -> bool:
    """Apply one provider report to a locked call; True if it moved the call."""
    moves = rank(event.status) > rank(call.status)
    session.add(
        CallEvent(
            org_id=call.org_id,
            call_id=call.id,
            status=event.status,
            applied=moves,
            source=source,
            occurred_at=event.occurred_at,
            payload={} if call.privacy_mode else event.details,
        )
    )
    _fill_timeline(call, event)
    if not moves:
        await session.flush()
        return False
    call.status = event.status
    if is_final(event.status):
        await _settle(session, call=call, event=event)
    await outbox.record(
        session, events.BY_STATUS[event.status], call_payload(call), org_id=call.org_id
    )
    await session.flush()
    if is_final(call.status) and call.privacy_mode:
        from commbase.calls import privacy_mode

        await privacy_mode.erase_call(session, call=call)
    return True


async def _settle(session: AsyncSession, *, call: Call, event: ProviderEvent) -> None:
    """Close the books on a finished call: duration, the one charge, the counters."""
    answered = call.answered_at is not None or event.status == "completed"
    if event.duration_s is not None:
        duration = event.duration_s
    elif call.answered_at is not None and call.ended_at is not None:
        duration = round((call.ended_at - call.answered_at).total_seconds())
    else:
        duration = 0
    duration = max(0, min(duration, call.max_duration_seconds)) if answered else 0
    call.duration_seconds = duration
    call.end_reason = event.end_reason or _DEFAULT_END_REASON[event.status]
    call.billable_minutes = billable_minutes(duration) if event.status == "completed" else 0
    spent = 0
    if call.wallet_id is not None:
        wallet = await billing_service.get_wallet(
            session, org_id=call.org_id, wallet_id=call.wallet_id, for_update=True
        )
        entry = await billing_service.capture_call(
            session,
            wallet=wallet,
            # A private call's charge never names it, not even in events.
            call_id=new_id("anon") if call.privacy_mode else call.id,
            hold=Hold(call.hold_amount, call.hold_minutes, 0),
            billable_minutes=call.billable_minutes,
            rate_per_minute=call.rate_per_minute or Decimal(0),
            user_id=call.user_id,
            agent_session_id=call.agent_session_id,
        )
        spent = entry.amount if entry is not None else 0
        call.cost_amount = spent
        call.ledger_entry_id = entry.id if entry is not None else None
        call.cost_breakdown = {
            **call.cost_breakdown,
            "call_cost": spent,
            "package_minutes": entry.minutes if entry is not None else 0,
            "billable_minutes": call.billable_minutes,
            "rate_per_minute": format((call.rate_per_minute or Decimal(0)).normalize(), "f"),
            "currency": call.currency,
        }
    if call.to_number:
        await contacts_service.record_call(
            session,
            org_id=call.org_id,
            phone=call.to_number,
            at=call.ended_at or event.occurred_at,
            duration_s=duration,
        )
    if call.user_id:
        await identity_service.record_call_for_user(
            session, user_id=call.user_id, kind=call.kind, duration_s=duration
        )
    if call.agent_session_id:
        await agent_sessions.record_call(
            session,
            org_id=call.org_id,
            session_id=call.agent_session_id,
            duration_s=duration,
            spent=spent,
        )
