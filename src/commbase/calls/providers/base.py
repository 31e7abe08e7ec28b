"""What every call provider offers and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from commbase.calls.enums import CallStatus, EndReason
from commbase.calls.models import Call


@dataclass(frozen=True)
class ProviderEvent:
    """One status report from a carrier, already verified."""

    status: CallStatus
    occurred_at: datetime
    duration_s: int | None = None
    end_reason: EndReason | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dialed:
    provider_call_id: str
    state: dict[str, Any]


class ProviderError(Exception):
    """The carrier answered and refused: the call will not happen."""


class DialNotSent(Exception):
    """The request never reached the carrier (no connection): dialing again is safe."""


class CallProvider(Protocol):
    name: str
    # True when dialing twice with the same ``reference`` never places a second call:
    # the carrier honours idempotency keys, or dialing has no effect outside commbase.
    repeatable_dial: bool

    async def dial(self, *, call: Call, allowed_s: int, reference: str) -> Dialed:
        """Start the call; status reports arrive later. ``reference`` is the idempotency
        key of this dial (the same on every retry). ``call`` may hold only the columns
        in ``calls.dialing.DIALED_COLUMNS`` (the dialer's stamp returns no more): read
        no other. Raises ``ProviderError`` if the carrier refused, ``DialNotSent`` if
        it was never asked; any other exception leaves the outcome unknown."""
        ...

    async def act(self, *, call: Call, action: str, parameters: dict[str, Any]) -> None:
        """Carry out an in-call action (dtmf, hangup, ...) at the carrier."""
        ...
