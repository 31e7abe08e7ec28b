"""An offline carrier that plays each call through its lifecycle on the clock.

The outcome depends on the last four digits of the number called, so every
path can be tried by hand:

    ...0001  busy        rings 3 s, then busy
    ...0002  no answer   rings 30 s, then no-answer
    ...0003  failed      fails 1 s after dialing
    ...0004  long call   answered, runs until the call's allowed duration ends
    other    answered after 4 s of ringing; talks 60 + (last two digits) seconds

Offsets are in call time; ``speed`` (``COMMBASE_SIMULATOR_SPEED``) divides them
in wall time, so a demo at speed 60 plays a two-minute call in two seconds and
still bills two minutes. Tests move a FrozenClock and call ``due_events``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from commbase.calls import lifecycle
from commbase.calls.enums import CallStatus, EndReason, ProviderName
from commbase.calls.models import Call
from commbase.calls.providers.base import Dialed, ProviderEvent
from commbase.core.time import utcnow


def script_for(number: str, *, allowed_s: int) -> list[dict[str, Any]]:
    """The scripted (offset seconds, status, duration) steps for a number."""
    tail = number[-4:]
    steps: list[dict[str, Any]] = [{"offset": 0.5, "status": CallStatus.INITIATED}]
    if tail == "0003":
        failed = {"status": CallStatus.FAILED, "duration": 0, "reason": EndReason.FAILED}
        return [*steps, {"offset": 1, **failed}]
    steps.append({"offset": 1, "status": CallStatus.RINGING})
    if tail == "0001":
        busy = {"status": CallStatus.BUSY, "duration": 0, "reason": EndReason.BUSY}
        return [*steps, {"offset": 4, **busy}]
    if tail == "0002":
        unanswered = {"status": CallStatus.NO_ANSWER, "duration": 0, "reason": EndReason.NO_ANSWER}
        return [*steps, {"offset": 31, **unanswered}]
    answer_at = 5
    talk = allowed_s if tail == "0004" else min(allowed_s, 60 + int(number[-2:]))
    reason = EndReason.TIMEOUT if tail == "0004" else EndReason.CALLEE_HANGUP
    return [
        *steps,
        {"offset": answer_at, "status": CallStatus.IN_PROGRESS},
        {
            "offset": answer_at + talk,
            "status": CallStatus.COMPLETED,
            "duration": talk,
            "reason": reason,
        },
    ]


class SimulatorProvider:
    name: str = ProviderName.SIMULATOR
    # Dialing only computes a script: nothing outside commbase happens, and the same
    # reference always gives the same call id.
    repeatable_dial = True

    def __init__(self, *, speed: float = 1.0) -> None:
        self.speed = speed

    async def dial(self, *, call: Call, allowed_s: int, reference: str) -> Dialed:
        started = utcnow()
        script = script_for(call.to_number or "", allowed_s=allowed_s)
        return Dialed(
            provider_call_id="sim_" + reference.partition("_")[2],
            state={"started_at": started.isoformat(), "speed": self.speed, "script": script},
        )

    async def act(self, *, call: Call, action: str, parameters: dict[str, Any]) -> None:
        return None  # the simulator has nothing to tell; hangups are applied by the caller


def due_events(call: Call, *, now: datetime) -> list[ProviderEvent]:
    """Scripted steps of a simulated call whose time has come and that the call has
    not reached yet, in order: each step is reported once."""
    state = call.provider_state or {}
    if "started_at" not in state:
        return []
    started = datetime.fromisoformat(state["started_at"])
    speed = float(state.get("speed") or 1.0)
    reached = lifecycle.rank(call.status)
    out = []
    for step in state.get("script", []):
        at = started + timedelta(seconds=float(step["offset"]) / speed)
        status = CallStatus(step["status"])
        if at <= now and lifecycle.rank(status) > reached:
            out.append(
                ProviderEvent(
                    status=status,
                    occurred_at=at,
                    duration_s=step.get("duration"),
                    end_reason=EndReason(step["reason"]) if step.get("reason") else None,
                    details={"simulated": True},
                )
            )
    return out


def elapsed_call_seconds(call: Call, *, since: datetime, now: datetime) -> int:
    """Call-time seconds between two wall-clock instants, at this call's speed."""
    speed = float((call.provider_state or {}).get("speed") or 1.0)
    return max(0, round((now - since).total_seconds() * speed))
