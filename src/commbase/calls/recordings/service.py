"""Storing recordings reported by the carrier, finding them, and letting them go.

A private call is never recorded: commbase asks for no recording, and a report
for one anyway is ignored (nothing stored, nothing announced). A report is
stored once: a repeat names the same carrier recording and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import lifecycle
from commbase.calls.enums import ProviderName
from commbase.calls.models import Call
from commbase.calls.recordings import events
from commbase.calls.recordings.callbacks import RecordingReport
from commbase.calls.recordings.enums import RecordingStatus
from commbase.calls.recordings.models import CallRecording
from commbase.core import outbox
from commbase.core.db import Database
from commbase.core.errors import NotFound

log = structlog.get_logger("commbase.calls.recordings")
STREAM_PATH = "/v1/calls/{call_id}/recording"


async def _reported_call(
    session: AsyncSession, *, call_sid: str, call_ref: str | None
) -> Call | None:
    """The Twilio call a report is about: by its SID, or by the call id in the signed
    callback URL when it names the same SID."""
    found = (
        await session.execute(
            select(Call.id, Call.org_id).where(
                Call.provider == ProviderName.TWILIO, Call.provider_call_id == call_sid
            )
        )
    ).first()
    if found is None:
        return None
    if call_ref is not None and call_ref != found.id:
        return None
    return await lifecycle.load_for_update(session, org_id=found.org_id, call_id=found.id)


async def store_twilio_recording(
    session: AsyncSession, *, report: RecordingReport, call_ref: str | None, public_base_url: str
) -> CallRecording | None:
    """Store a verified completed recording; None when it is ignored (unknown or
    private call, not completed). A repeated report returns the stored recording."""
    call = await _reported_call(session, call_sid=report.call_sid, call_ref=call_ref)
    if call is None or call.privacy_mode or call.erased_at is not None:
        log.info("recording report ignored", recording_sid=report.recording_sid)
        return None
    if report.status != RecordingStatus.COMPLETED or not report.url:
        return None
    stored = await _stored(session, recording_id=report.recording_sid)
    if stored is not None:
        return stored
    recording = CallRecording(
        org_id=call.org_id,
        call_id=call.id,
        kind=report.kind,
        status=report.status,
        provider=ProviderName.TWILIO,
        provider_recording_id=report.recording_sid,
        url=report.url,
        duration_seconds=report.duration_s,
        channels=report.channels,
        source=report.source,
        started_at=report.started_at,
    )
    try:
        async with session.begin_nested():
            session.add(recording)
            await session.flush()
    except IntegrityError:  # stored meanwhile by a concurrent repeat
        return await _stored(session, recording_id=report.recording_sid)
    call.recording_url = public_base_url.rstrip("/") + STREAM_PATH.format(call_id=call.id)
    await outbox.record(
        session,
        events.RECORDING_COMPLETED,
        {
            "id": recording.id,
            "call_id": call.id,
            "kind": recording.kind,
            "duration_seconds": recording.duration_seconds,
            "channels": recording.channels,
        },
        org_id=call.org_id,
    )
    await session.flush()
    return recording


async def _stored(session: AsyncSession, *, recording_id: str) -> CallRecording | None:
    return await session.scalar(
        select(CallRecording).where(
            CallRecording.provider == ProviderName.TWILIO,
            CallRecording.provider_recording_id == recording_id,
        )
    )


async def list_for_call(session: AsyncSession, *, call: Call) -> Sequence[CallRecording]:
    return (
        await session.scalars(
            select(CallRecording)
            .where(CallRecording.org_id == call.org_id, CallRecording.call_id == call.id)
            .order_by(CallRecording.id)
        )
    ).all()


async def latest_for_call(session: AsyncSession, *, call: Call) -> CallRecording:
    """The call's most recent recording (a call's own, or its voicemail); NotFound."""
    recording = await session.scalar(
        select(CallRecording)
        .where(
            CallRecording.org_id == call.org_id,
            CallRecording.call_id == call.id,
            CallRecording.url.is_not(None),
        )
        .order_by(CallRecording.id.desc())
        .limit(1)
    )
    if recording is None:
        raise NotFound("This call has no recording")
    return recording


async def remember_size(database: Database, *, recording: CallRecording, size: int) -> None:
    """The recording's size in bytes, learnt when the carrier serves it (Twilio's
    callbacks do not say): kept once, in a transaction of its own (streaming is a read)."""
    if recording.size_bytes is not None:
        return
    async with database.sessionmaker() as session:
        await session.execute(
            update(CallRecording)
            .where(
                CallRecording.org_id == recording.org_id,
                CallRecording.id == recording.id,
                CallRecording.size_bytes.is_(None),
            )
            .values(size_bytes=size)
        )
        await session.commit()
