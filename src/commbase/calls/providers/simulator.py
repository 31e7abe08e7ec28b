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

from commbase.calls.models import Call
from commbase.calls.providers.base import Dialed, ProviderEvent
from commbase.core.ids import new_id
from commbase.core.time import utcnow


def script_for(number: str, *, allowed_s: int) -> list[dict[str, Any]]:
    """The scripted (offset seconds, status, duration) steps for a number."""
    tail = number[-4:]
    steps: list[dict[str, Any]] = [{"offset": 0.5, "status": "initiated"}]
    if tail == "0003":
        return [*steps, {"offset": 1, "status": "failed", "duration": 0, "reason": "failed"}]
    steps.append({"offset": 1, "status": "ringing"})
    if tail == "0001":
        return [*steps, {"offset": 4, "status": "busy", "duration": 0, "reason": "busy"}]
    if tail == "0002":
        return [*steps, {"offset": 31, "status": "no-answer", "duration": 0, "reason": "no_answer"}]
    answer_at = 5
    talk = allowed_s if tail == "0004" else min(allowed_s, 60 + int(number[-2:]))
    reason = "timeout" if tail == "0004" else "callee_hangup"
    return [
        *steps,
        {"offset": answer_at, "status": "in-progress"},
        {"offset": answer_at + talk, "status": "completed", "duration": talk, "reason": reason},
    ]


class SimulatorProvider:
    name = "simulator"

    def __init__(self, *, speed: float = 1.0) -> None:
        self.speed = speed

    async def dial(self, *, call: Call, allowed_s: int) -> Dialed:
        started = utcnow()
        script = script_for(call.to_number or "", allowed_s=allowed_s)
        return Dialed(
            provider_call_id=new_id("sim"),
            state={"started_at": started.isoformat(), "speed": self.speed, "script": script},
        )

    async def act(self, *, call: Call, action: str, parameters: dict[str, Any]) -> None:
        return None  # the simulator has nothing to tell; hangups are applied by the caller


def due_events(call: Call, *, now: datetime) -> list[ProviderEvent]:
    """Scripted events of a simulated call whose time has come, in order."""
    state = call.provider_state or {}
    if "started_at" not in state:
        return []
    started = datetime.fromisoformat(state["started_at"])
    speed = float(state.get("speed") or 1.0)
    out = []
    for step in state.get("script", []):
        at = started + timedelta(seconds=float(step["offset"]) / speed)
        if at <= now:
            out.append(
                ProviderEvent(
                    status=step["status"],
                    occurred_at=at,
                    duration_s=step.get("duration"),
                    end_reason=step.get("reason"),
                    details={"simulated": True},
                )
            )
    return out


def elapsed_call_seconds(call: Call, *, since: datetime, now: datetime) -> int:
    """Call-time seconds between two wall-clock instants, at this call's speed."""
    speed = float((call.provider_state or {}).get("speed") or 1.0)
    return max(0, round((now - since).total_seconds() * speed))
