"""Event types of the live channel. A private call's payloads carry no numbers."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class LiveConnection(EventPayload):
    call_id: str
    side: str  # agent | carrier
    carrier: str | None = None  # simulator | twilio | connect_out (carrier side)
    agent_session_id: str | None = None
    reason: str | None = None  # why it disconnected


class CallTransferred(EventPayload):
    call_id: str
    agent_session_id: str | None = None
    to: str | None = None  # the number, unless the call is private
    member_id: str | None = None
    reason: str | None = None


CALL_LIVE_CONNECTED = define(
    "call.live.connected",
    LiveConnection,
    "An agent (side agent) or the carrier's media bridge (side carrier) joined a live call.",
)
CALL_LIVE_DISCONNECTED = define(
    "call.live.disconnected", LiveConnection, "One side of a live call's channel went away."
)
CALL_TRANSFERRED = define(
    "call.transferred",
    CallTransferred,
    "The agent handed the call to a number or a member (escalation to a human).",
)
