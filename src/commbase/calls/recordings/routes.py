"""Recordings: Twilio's signed recording callbacks, and a call's recordings for the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse

from commbase.calls import service as calls_service
from commbase.calls.inbound.signed import verified_params
from commbase.calls.providers.twilio import CALL_PARAMETER
from commbase.calls.recordings import service, stream
from commbase.calls.recordings.callbacks import RECORDING_PATH, report_from_callback
from commbase.calls.recordings.schemas import RecordingList, RecordingRead
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(prefix="", tags=["calls"])


@router.post(
    RECORDING_PATH,
    tags=["providers"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Twilio recording status callbacks, verified with X-Twilio-Signature",
    description=(
        "Stores a completed recording of a call (or a voicemail) once and announces "
        "`recording.completed`; reports for private calls, unknown calls and repeats "
        "are acknowledged and change nothing."
    ),
)
async def twilio_recording_callback(
    request: Request, session: DbSession, settings: AppSettings
) -> Response:
    params = await verified_params(request, settings)
    report = report_from_callback(params, kind=request.query_params.get("kind"))
    if report is not None:
        await service.store_twilio_recording(
            session,
            report=report,
            call_ref=request.query_params.get(CALL_PARAMETER),
            public_base_url=settings.public_base_url,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/calls/{call_id}/recordings", response_model=RecordingList)
async def list_call_recordings(
    call_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> RecordingList:
    principal.require(Scope.CALLS_READ)
    call = await calls_service.get_call(session, principal=principal, call_id=call_id)
    rows = await service.list_for_call(session, call=call)
    return RecordingList(data=[RecordingRead.model_validate(row) for row in rows])


@router.get(
    "/v1/calls/{call_id}/recording",
    response_class=StreamingResponse,
    responses={200: {"content": {stream.MEDIA_TYPE: {}}, "description": "The audio (MP3)"}},
    summary="Stream the call's latest recording (or voicemail) through commbase",
)
async def stream_call_recording(
    call_id: PathId,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.CALLS_READ)
    call = await calls_service.get_call(session, principal=principal, call_id=call_id)
    recording = await service.latest_for_call(session, call=call)
    opened = await stream.open_stream(
        recording,
        settings=settings,
        transport=request.app.state.job_services.get(stream.TRANSPORT_KEY),
    )
    headers = {"Cache-Control": "private, no-store"}
    if opened.size is not None:
        headers["Content-Length"] = str(opened.size)
        await service.remember_size(request.app.state.db, recording=recording, size=opened.size)
    return StreamingResponse(opened.chunks, media_type=stream.MEDIA_TYPE, headers=headers)
