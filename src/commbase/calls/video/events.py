"""Event types video rooms record in the outbox (besides the call's ``call.*``).

Payloads name no guest: participants appear by id and role only.
"""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class RoomPayload(EventPayload):
    id: str
    call_id: str
    status: str
    mode: str


class ParticipantPayload(EventPayload):
    room_id: str
    call_id: str
    participant_id: str
    role: str
    reconnection: bool = False


VIDEO_ROOM_CREATED = define(
    "video.room.created", RoomPayload, "A video room was created (its call is initiated)."
)
VIDEO_ROOM_ENDED = define(
    "video.room.ended",
    RoomPayload,
    "A video room ended (its call is completed or canceled); an sfu room's SFU room is "
    "deleted after commit.",
)
VIDEO_PARTICIPANT_JOINED = define(
    "video.participant.joined",
    ParticipantPayload,
    "A participant connected to a video room's signalling (again, for a reconnection).",
)
VIDEO_PARTICIPANT_LEFT = define(
    "video.participant.left", ParticipantPayload, "A participant left a video room."
)
