"""Simulated inbound calls: a caller on the simulator rings one of the
organization's simulator numbers (``POST /v1/phone-numbers/{id}/simulate-inbound``).
The call is routed exactly as a carrier's would be; then the simulated caller stays
on for ``duration_s`` (default 60 s plus the last two digits of their number, capped
by the call's allowed duration) and hangs up, moved on the clock by the simulator
like outbound calls (``COMMBASE_SIMULATOR_SPEED`` applies)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import lifecycle
from commbase.calls.enums import CallStatus, EndReason, ProviderName
from commbase.calls.inbound.service import Inbound, receive_inbound
from commbase.calls.phone_numbers.models import PhoneNumber
from commbase.core.errors import Conflict
from commbase.core.time import utcnow
from commbase.settings import Settings


def default_duration(caller: str) -> int:
    tail = caller[-2:]
    return 60 + (int(tail) if tail.isdigit() else 0)


async def simulate_inbound(
    session: AsyncSession,
    *,
    number: PhoneNumber,
    from_number: str,
    settings: Settings,
    duration_s: int | None = None,
    livemode: bool = True,
) -> Inbound:
    """Ring a simulator number from ``from_number``; the routed call."""
    if number.provider != ProviderName.SIMULATOR:
        raise Conflict(
            "Only simulator numbers take simulated calls; this number is at "
            f"{number.provider}, whose calls come from the carrier",
            provider=number.provider,
        )
    now = utcnow()
    inbound = await receive_inbound(
        session,
        number=number,
        from_number=from_number,
        settings=settings,
        livemode=livemode,
        now=now,
    )
    call = inbound.call
    if lifecycle.is_final(call.status):
        return inbound
    talk = min(duration_s or default_duration(from_number), call.max_duration_seconds)
    call.provider_state = {
        **call.provider_state,
        "started_at": now.isoformat(),
        "speed": settings.simulator_speed,
        "script": [
            {
                "offset": talk,
                "status": CallStatus.COMPLETED,
                "duration": talk,
                "reason": EndReason.CALLER_HANGUP,
            }
        ],
    }
    await session.flush()
    return inbound
