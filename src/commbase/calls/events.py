"""Event types the calls domain records in the outbox.

A private call's payloads carry no numbers or tags.
"""

from __future__ import annotations

from commbase.calls.enums import CallStatus
from commbase.core.events import EventPayload, define


class CallPayload(EventPayload):
    id: str
    kind: str
    status: str
    direction: str
    duration_seconds: int | None
    billable_minutes: int | None
    cost_amount: int | None
    currency: str | None
    end_reason: str | None
    privacy_mode: bool
    agent_session_id: str | None
    user_id: str | None
    to: str | None = None
    to_country: str | None = None
    tags: list[str] | None = None


class QualityDegraded(EventPayload):
    id: str
    mos_score: float | None
    packet_loss: float | None
    latency_ms: int | None


class TranscriptionUpdated(EventPayload):
    transcript_id: str
    call_id: str
    status: str | None = None
    word_count: int | None = None


CALL_QUEUED = define(
    "call.queued", CallPayload, "A call was placed and its funds held; it is being dialed."
)
CALL_INITIATED = define("call.initiated", CallPayload, "The carrier started the call.")
CALL_RINGING = define("call.ringing", CallPayload, "The callee's phone is ringing.")
CALL_ANSWERED = define("call.answered", CallPayload, "The callee answered.")
CALL_COMPLETED = define(
    "call.completed", CallPayload, "An answered call ended; it has been charged."
)
CALL_FAILED = define(
    "call.failed", CallPayload, "A call ended without being answered (busy, no-answer, ...)."
)
CALL_QUALITY_DEGRADED = define(
    "call.quality_degraded", QualityDegraded, "A call's reported quality fell to poor."
)
TRANSCRIPTION_UPDATED = define(
    "transcription.updated", TranscriptionUpdated, "A call's transcript changed."
)

BY_STATUS = {
    CallStatus.QUEUED: CALL_QUEUED,
    CallStatus.INITIATED: CALL_INITIATED,
    CallStatus.RINGING: CALL_RINGING,
    CallStatus.IN_PROGRESS: CALL_ANSWERED,
    CallStatus.COMPLETED: CALL_COMPLETED,
    CallStatus.BUSY: CALL_FAILED,
    CallStatus.FAILED: CALL_FAILED,
    CallStatus.NO_ANSWER: CALL_FAILED,
    CallStatus.CANCELED: CALL_FAILED,
}
