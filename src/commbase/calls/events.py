"""Event types the calls domain records in the outbox."""

CALL_INITIATED = "call.initiated"
CALL_RINGING = "call.ringing"
CALL_ANSWERED = "call.answered"
CALL_COMPLETED = "call.completed"
CALL_FAILED = "call.failed"
CALL_QUALITY_DEGRADED = "call.quality_degraded"
TRANSCRIPTION_UPDATED = "transcription.updated"

BY_STATUS = {
    "initiated": CALL_INITIATED,
    "ringing": CALL_RINGING,
    "in-progress": CALL_ANSWERED,
    "completed": CALL_COMPLETED,
    "busy": CALL_FAILED,
    "failed": CALL_FAILED,
    "no-answer": CALL_FAILED,
    "canceled": CALL_FAILED,
}
