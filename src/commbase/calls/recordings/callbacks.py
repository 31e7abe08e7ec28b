"""Twilio's recording status callbacks: what a verified one says.

They arrive at ``/v1/providers/twilio/voice/recording?call=<call id>&kind=<kind>``
(the URL commbase gave Twilio in ``<Record recordingStatusCallback>``), signed like
the status callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from commbase.calls.recordings.enums import RecordingKind, RecordingStatus

RECORDING_PATH = "/v1/providers/twilio/voice/recording"
_SID = set("abcdefABCDEF0123456789")


@dataclass(frozen=True)
class RecordingReport:
    call_sid: str
    recording_sid: str
    status: RecordingStatus
    url: str | None
    duration_s: int | None
    channels: int | None
    source: str | None
    started_at: datetime | None
    kind: RecordingKind


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


def _sid(value: str, prefix: str) -> bool:
    return len(value) == 34 and value.startswith(prefix) and set(value[2:]) <= _SID


def report_from_callback(params: dict[str, str], *, kind: str | None) -> RecordingReport | None:
    """The report in a verified callback, or None if it is not a recording report."""
    call_sid, recording_sid = params.get("CallSid", ""), params.get("RecordingSid", "")
    status = params.get("RecordingStatus", "")
    if not (_sid(call_sid, "CA") and _sid(recording_sid, "RE")):
        return None
    if status not in {s.value for s in RecordingStatus}:
        return None
    started_at = None
    if params.get("RecordingStartTime"):
        try:
            started_at = parsedate_to_datetime(params["RecordingStartTime"])
        except (TypeError, ValueError):
            started_at = None
    url = params.get("RecordingUrl") or None
    return RecordingReport(
        call_sid=call_sid,
        recording_sid=recording_sid,
        status=RecordingStatus(status),
        url=url if url and len(url) <= 1000 else None,
        duration_s=_int(params.get("RecordingDuration")),
        channels=_int(params.get("RecordingChannels")),
        source=(params.get("RecordingSource") or "")[:40] or None,
        started_at=started_at,
        kind=RecordingKind.VOICEMAIL if kind == RecordingKind.VOICEMAIL else RecordingKind.CALL,
    )
