"""Event types of inbound calls."""

from __future__ import annotations

from commbase.calls.events import CallPayload
from commbase.core.events import define


class InboundCallPayload(CallPayload):
    number_id: str
    route: str
    caller: str | None = None  # the caller's number (none for private calls)


CALL_INBOUND = define(
    "call.inbound",
    InboundCallPayload,
    "A call came in to one of the organization's numbers; ``route`` says what answered it.",
)
