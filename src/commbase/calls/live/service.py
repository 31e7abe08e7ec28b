"""What the live channel reads and changes in the database: which call a socket may
attach to, the call's state, connection events, hangups, transfers and the callee's
hangup. Each function runs its own short transaction: sockets live for minutes, a
request's session for milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import lifecycle
from commbase.calls import service as calls_service
from commbase.calls.enums import ActionKind, CallStatus, EndReason, EventSource, ProviderName
from commbase.calls.live import events
from commbase.calls.models import Call
from commbase.calls.providers import Carriers
from commbase.calls.providers.base import ProviderEvent
from commbase.calls.providers.simulator import elapsed_call_seconds
from commbase.core import outbox
from commbase.core.auth import Principal
from commbase.core.db import Database
from commbase.core.errors import Conflict, NotFound
from commbase.core.time import utcnow
from commbase.identity import service as identity_service


@dataclass(frozen=True, slots=True)
class LiveCall:
    """What a live socket needs to know of its call, read once."""

    id: str
    org_id: str
    status: str
    provider: str
    direction: str
    privacy_mode: bool
    agent_session_id: str | None
    answered_at: datetime | None
    created_at: datetime
    speed: float
    end_reason: str | None
    max_duration_s: int = 0  # the call's allowed length from the answer (0: unbounded)
    live_audio: bool = False  # audio frames (Media Streams) instead of text

    @classmethod
    def of(cls, call: Call | Row[Any]) -> LiveCall:
        """From the call's row (``Call``, or the ``LIVE_COLUMNS`` of it)."""
        speed = float((call.provider_state or {}).get("speed") or 1.0)
        return cls(
            id=call.id,
            org_id=call.org_id,
            status=call.status,
            provider=call.provider,
            direction=call.direction,
            privacy_mode=call.privacy_mode,
            agent_session_id=call.agent_session_id,
            answered_at=call.answered_at,
            created_at=call.created_at,
            speed=speed if call.provider == ProviderName.SIMULATOR else 1.0,
            end_reason=call.end_reason,
            max_duration_s=call.max_duration_seconds or 0,
            live_audio=bool(call.live_audio),
        )

    @property
    def final(self) -> bool:
        return lifecycle.is_final(self.status)

    def over_limit(self, now: datetime | None = None) -> bool:
        """Answered and talking for its whole allowed duration."""
        return (
            self.status == CallStatus.IN_PROGRESS
            and self.answered_at is not None
            and self.max_duration_s > 0
            and self.offset_s(now) >= self.max_duration_s
        )

    def offset_s(self, now: datetime | None = None) -> float:
        """Call-time seconds since the answer: transcript times. Before the carrier has
        reported the answer (its callback can trail the relay's socket), since the call
        was placed, so lines still come out in the order they were said."""
        since = self.answered_at or self.created_at
        elapsed = ((now or utcnow()) - since).total_seconds() * self.speed
        return round(max(0.0, elapsed), 3)


LIVE_COLUMNS = (
    Call.id,
    Call.org_id,
    Call.status,
    Call.provider,
    Call.direction,
    Call.privacy_mode,
    Call.agent_session_id,
    Call.answered_at,
    Call.created_at,
    Call.provider_state,
    Call.end_reason,
    Call.max_duration_seconds,
    Call.live_audio,
)


async def attachable_call(database: Database, *, principal: Principal, call_id: str) -> LiveCall:
    """The call ``principal`` may talk on: one it can see (an agent session: only its
    own) and not ended. NotFound for calls it cannot see, Conflict for ended ones."""
    async with database.sessionmaker() as session:
        call = await calls_service.get_call(session, principal=principal, call_id=call_id)
        if lifecycle.is_final(call.status):
            raise Conflict(f"The call is {call.status}")
        return LiveCall.of(call)


async def find_call(
    database: Database, *, call_id: str, org_id: str | None = None
) -> LiveCall | None:
    """The call (by id alone for carriers, whose signed URL names it), or None.
    Read as plain columns: every attached agent polls it (``AgentSession._watch``)."""
    async with database.sessionmaker() as session:
        statement = select(*LIVE_COLUMNS).where(Call.id == call_id)
        if org_id is not None:
            statement = statement.where(Call.org_id == org_id)
        row = (await session.execute(statement)).first()
        return LiveCall.of(row) if row is not None else None


async def record_connection(
    database: Database,
    call: LiveCall,
    *,
    side: str,
    connected: bool,
    carrier: str | None = None,
    reason: str | None = None,
) -> None:
    """Record ``call.live.connected`` or ``call.live.disconnected`` (skipped once a
    private call has been erased)."""
    async with database.sessionmaker() as session:
        exists = await session.scalar(
            select(Call.id).where(Call.org_id == call.org_id, Call.id == call.id)
        )
        if exists is None:
            return
        await outbox.record(
            session,
            events.CALL_LIVE_CONNECTED if connected else events.CALL_LIVE_DISCONNECTED,
            {
                "call_id": call.id,
                "side": side,
                "carrier": carrier,
                "agent_session_id": call.agent_session_id,
                "reason": reason,
            },
            org_id=call.org_id,
        )
        await session.commit()


async def _lock(session: AsyncSession, call: LiveCall) -> Call | None:
    try:
        locked = await lifecycle.load_for_update(session, org_id=call.org_id, call_id=call.id)
    except NotFound:
        return None
    return None if lifecycle.is_final(locked.status) else locked


async def hang_up(database: Database, *, carriers: Carriers, call: LiveCall) -> None:
    """End the call as the agent's side (a simulated call is settled at once; a carrier's
    reports the end through its status callback)."""
    async with database.sessionmaker() as session:
        locked = await _lock(session, call)
        if locked is None:
            return
        await calls_service.perform_action(
            session, call=locked, action=ActionKind.HANGUP, parameters={}, carriers=carriers
        )
        await session.commit()


async def transfer(
    database: Database,
    *,
    carriers: Carriers,
    call: LiveCall,
    to: str | None,
    member_id: str | None,
    reason: str | None,
) -> str:
    """Hand the call to ``to`` or to the member's phone; returns the number dialled.
    NotFound for a member not in the organization, Conflict for one without a phone."""
    async with database.sessionmaker() as session:
        if member_id is not None:
            user = await identity_service.get_member_user(
                session, org_id=call.org_id, user_id=member_id
            )
            if not user.phone:
                raise Conflict("That member has no phone number to transfer to")
            to = user.phone
        assert to is not None
        locked = await _lock(session, call)
        if locked is None:
            raise Conflict("The call has ended")
        await calls_service.perform_action(
            session,
            call=locked,
            action=ActionKind.TRANSFER,
            parameters={"to": to},
            carriers=carriers,
        )
        payload: dict[str, Any] = {
            "call_id": call.id,
            "agent_session_id": call.agent_session_id,
            "member_id": member_id,
            "reason": reason,
        }
        if not call.privacy_mode:
            payload["to"] = to
        await outbox.record(session, events.CALL_TRANSFERRED, payload, org_id=call.org_id)
        await session.commit()
        return to


async def end_at_limit(database: Database, *, carriers: Carriers, call: LiveCall) -> None:
    """The call has lasted its maximum duration (the organization's
    ``ai_settings.max_call_duration``, bounded by the wallet): end it through its carrier.
    Twilio's ConversationRelay calls have no time limit of their own, so the live
    bridge enforces it: the call is updated to ``completed`` (its status callback
    settles it); a simulated call completes now, charged for exactly the limit."""
    async with database.sessionmaker() as session:
        locked = await _lock(session, call)
        if locked is None:
            return
        if locked.provider != ProviderName.SIMULATOR:
            # Why it ended, kept when the carrier's status callback settles it.
            locked.end_reason = EndReason.TIMEOUT
            await calls_service.perform_action(
                session,
                call=locked,
                action=ActionKind.HANGUP,
                parameters={"reason": "max_duration"},
                carriers=carriers,
            )
        else:
            await lifecycle.apply_event(
                session,
                call=locked,
                event=ProviderEvent(
                    status=CallStatus.COMPLETED,
                    occurred_at=utcnow(),
                    duration_s=locked.max_duration_seconds,
                    end_reason=EndReason.TIMEOUT,
                    details={"simulated": True, "live": True, "max_duration": True},
                ),
                source=EventSource.SIMULATOR,
            )
        await session.commit()


async def end_by_callee(database: Database, *, call: LiveCall) -> None:
    """A simulated callee hung up: the call completes now, charged for the time talked."""
    async with database.sessionmaker() as session:
        locked = await _lock(session, call)
        if locked is None:
            return
        now = utcnow()
        answered = locked.answered_at
        await lifecycle.apply_event(
            session,
            call=locked,
            event=ProviderEvent(
                status=CallStatus.COMPLETED,
                occurred_at=now,
                duration_s=elapsed_call_seconds(locked, since=answered, now=now) if answered else 0,
                end_reason=EndReason.CALLEE_HANGUP,
                details={"simulated": True, "live": True},
            ),
            source=EventSource.SIMULATOR,
        )
        await session.commit()


async def current(database: Database, *, call: LiveCall) -> LiveCall | None:
    """The call as it is now (None once a private call has been erased)."""
    return await find_call(database, call_id=call.id, org_id=call.org_id)


async def callee_number(database: Database, *, call: LiveCall) -> str | None:
    """The other party's number: the callee of an outbound call, the caller of an inbound."""
    async with database.sessionmaker() as session:
        row = (
            await session.execute(
                select(Call.to_number, Call.from_number, Call.direction).where(
                    Call.org_id == call.org_id, Call.id == call.id
                )
            )
        ).first()
    if row is None:
        return None
    number: str | None = row.from_number if row.direction == "inbound" else row.to_number
    return number
