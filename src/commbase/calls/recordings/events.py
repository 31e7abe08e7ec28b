"""Event types of recordings."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class RecordingPayload(EventPayload):
    id: str
    call_id: str
    kind: str
    duration_seconds: int | None
    channels: int | None


RECORDING_COMPLETED = define(
    "recording.completed",
    RecordingPayload,
    "A call's recording or a voicemail is stored; GET /v1/calls/{id}/recording streams it.",
)
