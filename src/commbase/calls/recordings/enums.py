"""Recordings' kinds and statuses."""

from __future__ import annotations

from enum import StrEnum


class RecordingKind(StrEnum):
    CALL = "call"  # the conversation itself
    VOICEMAIL = "voicemail"  # a caller's message left after hours


class RecordingStatus(StrEnum):
    """Twilio's RecordingStatus values commbase stores."""

    COMPLETED = "completed"
    FAILED = "failed"
    ABSENT = "absent"
