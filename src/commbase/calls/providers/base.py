"""What every call provider offers and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from commbase.calls.models import Call


@dataclass(frozen=True)
class ProviderEvent:
    """One status report from a carrier, already verified."""

    status: str  # queued | initiated | ringing | in-progress | completed | busy | ...
    occurred_at: datetime
    duration_s: int | None = None
    end_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dialed:
    provider_call_id: str
    state: dict[str, Any]


class ProviderError(Exception):
    """The carrier refused or could not be reached."""


class CallProvider(Protocol):
    name: str

    async def dial(self, *, call: Call, allowed_s: int) -> Dialed:
        """Start the call; status reports arrive later."""
        ...

    async def act(self, *, call: Call, action: str, parameters: dict[str, Any]) -> None:
        """Carry out an in-call action (dtmf, hangup, ...) at the carrier."""
        ...
