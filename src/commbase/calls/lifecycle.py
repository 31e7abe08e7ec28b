"""The call state machine, fed by provider reports.

    queued -> initiated -> ringing -> in-progress -> completed | busy | failed
                                                     | no-answer | canceled

Reports may arrive late, twice or out of order. A report moves the call only
forward; a report for a step already passed only fills in that step's
timestamp if it was missing; nothing after a final state changes money or
status. The caller holds the call row locked (``load_for_update``), so two
reports for one call are applied one after the other. The final state is the
same whatever order the reports came in.

Two measures are derived from the timeline, never taken from clients:

* ``waiting_time_seconds``: from the moment the call was placed (``created_at``,
  the server's clock) to the answer (``answered_at``): how long the caller waited
  to talk to someone, dialing and ringing included.
* ``response_time_seconds``: from the first ring (``ringing_at``) to the answer:
  how long the callee took to pick up.

Both are whole seconds (rounded, never negative) and stay empty for a call that
was never answered (or, for the response time, never reported ringing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing import service as billing_service
from commbase.billing.service import Hold
from commbase.calls import counting, events
from commbase.calls.enums import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    CallDirection,
    CallStatus,
    EndReason,
    EventSource,
)
from commbase.calls.models import Call, CallEvent
from commbase.calls.providers.base import ProviderEvent
from commbase.core import outbox
from commbase.core.errors import NotFound
from commbase.core.ids import new_id
from commbase.core.indexes import unindexed
from commbase.core.money import billable_minutes
from commbase.core.time import utcnow
from commbase.identity.agent_sessions import service as agent_sessions
from commbase.identity.enums import DataRetention

ACTIVE = ACTIVE_STATUSES
FINAL = FINAL_STATUSES
_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
}
_DEFAULT_END_REASON = {
    CallStatus.COMPLETED: EndReason.NORMAL,
    CallStatus.BUSY: EndReason.BUSY,
    CallStatus.FAILED: EndReason.FAILED,
    CallStatus.NO_ANSWER: EndReason.NO_ANSWER,
    CallStatus.CANCELED: EndReason.CANCELED,
}
# How long an agent session's ``30_days`` consent keeps a call's personal data.
THIRTY_DAYS = timedelta(days=30)


def rank(status: str) -> int:
    return 4 if status in FINAL else _RANK.get(CallStatus(status), 0)


def is_final(status: str) -> bool:
    return status in FINAL


# Built once: every report and every dial locks its call, found by its primary key
# (the organization checked on the row, ``unindexed``).
_FOR_UPDATE = (
    select(Call)
    .where(unindexed(Call.org_id) == bindparam("org_id"), Call.id == bindparam("call_id"))
    .with_for_update()
    # The locked row as it is now, even if this session read the call before (what
    # ``calls.counting.writes_call`` writes back is this object's every figure).
    .execution_options(populate_existing=True)
)


async def load_for_update(session: AsyncSession, *, org_id: str, call_id: str) -> Call:
    call = await session.scalar(_FOR_UPDATE, {"org_id": org_id, "call_id": call_id})
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


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def _fill_timeline(call: Call, event: ProviderEvent) -> None:
    at = event.occurred_at
    if event.status == CallStatus.INITIATED and call.initiated_at is None:
        call.initiated_at = at
    elif event.status == CallStatus.RINGING and call.ringing_at is None:
        call.ringing_at = at
    elif event.status == CallStatus.IN_PROGRESS and call.answered_at is None:
        call.answered_at = at
    elif is_final(event.status) and call.ended_at is None:
        call.ended_at = at
    # Recomputed on every report: a late ``ringing`` still gives the response time.
    call.waiting_time_seconds = _seconds(call.created_at, call.answered_at)
    call.response_time_seconds = _seconds(call.ringing_at, call.answered_at)


async def apply_event(
    session: AsyncSession,
    *,
    call: Call,
    event: ProviderEvent,
    source: EventSource,
    debits: billing_service.GroupedDebits | None = None,
    pending: Pending | None = None,
) -> bool:
    """Apply one provider report to a locked call; True if it moved the call.

    ``debits``: a final report's charge joins its wallet's group commit
    (``billing_service.charge_call``); for callers that handle one call per
    transaction and hold no wallet lock (Twilio's status callbacks, the simulator
    on PostgreSQL).

    ``pending``: a caller applying several reports to the call in one transaction
    collects their events and reports, and writes them with ``record_pending`` after
    the last (one statement for each); a final report writes them, its own last,
    where one report alone writes its event. A final report's row and event, and
    those not written yet, go with the finished call's counters
    (``counting.count_finished``)."""
    moves = rank(event.status) > rank(call.status)
    final = moves and is_final(event.status)
    report = counting.report_row(
        org_id=call.org_id,
        call_id=call.id,
        status=event.status,
        applied=moves,
        source=source,
        occurred_at=event.occurred_at,
        payload={} if call.privacy_mode else event.details,
    )
    if pending is not None:
        pending.reports.append(report)
    elif not final:
        # Flushed with the call's changes by the caller's next query or commit.
        session.add(CallEvent(**report))
    _fill_timeline(call, event)
    if not moves:
        return False
    call.status = event.status
    if final:
        await _settle(session, call=call, event=event, debits=debits)
    recorded = (events.BY_STATUS[event.status], call_payload(call), utcnow())
    if pending is not None:
        pending.events.append(recorded)
    elif not final:
        await outbox.record(session, recorded[0], recorded[1], org_id=call.org_id)
    if final:
        # Last: the caller's and callee's counters are rows many calls share (all of
        # an API key's calls count for its owner), locked from here to the commit;
        # the reports and events not written yet go with them.
        await _count(
            session,
            call=call,
            event=event,
            reports=[report] if pending is None else pending.reports,
            events=[recorded] if pending is None else pending.events,
        )
    if is_final(call.status) and call.privacy_mode:
        from commbase.calls import privacy_mode

        await session.flush()
        await privacy_mode.erase_call(session, call=call)
    return True


@dataclass
class Pending:
    """What ``apply_event`` left to write for one call: its outbox events (type,
    payload, recorded at) and its reports (``call_events`` rows), each in order."""

    events: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)


async def record_pending(session: AsyncSession, pending: Pending, *, org_id: str) -> None:
    """Write the events and reports ``apply_event`` collected, in order, and forget
    them (a statement for each that has any)."""
    await outbox.record_events(session, pending.events, org_id=org_id)
    pending.events.clear()
    await counting.write_reports(session, pending.reports)


async def _settle(
    session: AsyncSession,
    *,
    call: Call,
    event: ProviderEvent,
    debits: billing_service.GroupedDebits | None,
) -> None:
    """Close the books on a finished call: duration and the one charge (``_count``
    then counts it)."""
    answered = call.answered_at is not None or event.status == CallStatus.COMPLETED
    if event.duration_s is not None:
        duration = event.duration_s
    elif call.answered_at is not None and call.ended_at is not None:
        duration = round((call.ended_at - call.answered_at).total_seconds())
    else:
        duration = 0
    duration = max(0, min(duration, call.max_duration_seconds)) if answered else 0
    call.duration_seconds = duration
    # A reason commbase set when it ended the call itself (the live bridge at the
    # maximum duration: ``timeout``) outlives the carrier's plain "completed".
    call.end_reason = event.end_reason or call.end_reason or _DEFAULT_END_REASON[event.status]
    completed = event.status == CallStatus.COMPLETED
    call.billable_minutes = billable_minutes(duration) if completed else 0
    if call.data_retention == DataRetention.THIRTY_DAYS:
        call.personal_data_expires_at = (call.ended_at or event.occurred_at) + THIRTY_DAYS
    spent = 0
    if call.wallet_id is not None:
        entry = await billing_service.charge_call(
            session,
            org_id=call.org_id,
            wallet_id=call.wallet_id,
            # A private call's charge never names it, not even in events; it is
            # charged in this transaction (its reference is new on every attempt).
            call_id=new_id("anon") if call.privacy_mode else call.id,
            hold=Hold(call.hold_amount, call.hold_minutes, 0),
            billable_minutes=call.billable_minutes,
            rate_per_minute=call.rate_per_minute or Decimal(0),
            user_id=call.user_id,
            agent_session_id=call.agent_session_id,
            debits=None if call.privacy_mode else debits,
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


async def _count(
    session: AsyncSession,
    *,
    call: Call,
    event: ProviderEvent,
    reports: list[dict[str, Any]],
    events: list[tuple[str, dict[str, Any], datetime]],
) -> None:
    """A finished call counts for the other party's contact, the user and the agent
    session; its ``reports`` and ``events`` not written yet go with the counters."""
    duration = call.duration_seconds or 0
    # The call's changes and reports go first: from the first counter to the commit
    # the shared rows are locked (the statements below do not flush on their own).
    # On PostgreSQL the call's own changes, when nothing else waits, go in the
    # counters' statement (``counting.writes_call``).
    writes_call = counting.writes_call(session, call)
    if not writes_call:
        await session.flush()
    await counting.count_finished(
        session,
        org_id=call.org_id,
        call_id=call.id,
        # The other party: the callee of an outbound call, the caller of an inbound one.
        party=call.from_number if call.direction == CallDirection.INBOUND else call.to_number,
        at=call.ended_at or event.occurred_at,
        duration_s=duration,
        user_id=call.user_id,
        kind=call.kind,
        reports=reports,
        events=events,
        call=call if writes_call else None,
    )
    if call.agent_session_id:
        await agent_sessions.record_call(
            session,
            org_id=call.org_id,
            session_id=call.agent_session_id,
            duration_s=duration,
            spent=(call.cost_amount or 0) if call.wallet_id is not None else 0,
        )
