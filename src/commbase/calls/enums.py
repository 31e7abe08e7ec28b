"""Calls' statuses, kinds, directions, end reasons and the other closed sets of values.

Line types are ``commbase.core.phones.LineType``: one enum for number lookup and rates.
An agent session's ``data_retention`` consent is ``commbase.identity.enums.DataRetention``.
"""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    """Where a call is in its lifecycle (Twilio's call statuses, plus ``queued`` before
    the carrier was asked)."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


ACTIVE_STATUSES = (
    CallStatus.QUEUED,
    CallStatus.INITIATED,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
)
FINAL_STATUSES = (
    CallStatus.COMPLETED,
    CallStatus.BUSY,
    CallStatus.FAILED,
    CallStatus.NO_ANSWER,
    CallStatus.CANCELED,
)
# Final statuses of calls that never connected.
UNANSWERED_STATUSES = (
    CallStatus.FAILED,
    CallStatus.BUSY,
    CallStatus.NO_ANSWER,
    CallStatus.CANCELED,
)


class CallKind(StrEnum):
    VOICE = "voice"
    VIDEO = "video"


class CallDirection(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class EndReason(StrEnum):
    NORMAL = "normal"
    CALLER_HANGUP = "caller_hangup"
    CALLEE_HANGUP = "callee_hangup"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"


class ActionKind(StrEnum):
    """In-call actions."""

    DTMF = "dtmf"
    HOLD = "hold"
    UNHOLD = "unhold"
    MUTE = "mute"
    UNMUTE = "unmute"
    TRANSFER = "transfer"
    HANGUP = "hangup"


class Quality(StrEnum):
    """The quality label derived from reported metrics (see ``calls.quality``)."""

    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class EventSource(StrEnum):
    """Who reported a lifecycle step recorded in ``call_events``."""

    DIAL = "dial"
    SIMULATOR = "simulator"
    TWILIO = "twilio"
    ACTION = "action"
    VIDEO = "video"  # a video room's own lifecycle (calls.video)


class ProviderName(StrEnum):
    """The carriers a call can go through (``COMMBASE_CALL_PROVIDER``)."""

    SIMULATOR = "simulator"
    TWILIO = "twilio"
