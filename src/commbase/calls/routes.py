"""Calls API and the Twilio status callback."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy import select

from commbase.calls import lifecycle, reports, service
from commbase.calls.models import Call
from commbase.calls.providers import CallProvider, provider_for
from commbase.calls.providers.twilio import event_from_callback, signature_is_valid
from commbase.calls.schemas import (
    ActionCreate,
    ActionRead,
    AnalysisUpdate,
    CallCreate,
    CallRead,
    QualityReport,
    QualityStats,
    ReviewCreate,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.errors import AuthenticationRequired, ServiceUnavailable
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope

router = APIRouter(prefix="/v1", tags=["calls"])
log = structlog.get_logger("commbase.calls")
Id = Annotated[str, Path(max_length=40)]


def _provider(request: Request) -> CallProvider:
    provider: CallProvider | None = getattr(request.app.state, "call_provider", None)
    if provider is None:
        provider = provider_for(request.app.state.settings)
        request.app.state.call_provider = provider
    return provider


@router.post(
    "/calls",
    response_model=CallRead,
    status_code=status.HTTP_201_CREATED,
    summary="Place a call (send an Idempotency-Key to make retries safe)",
)
async def place_call(
    body: CallCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.CALLS_CREATE)
    return await service.place_call(
        session, principal=principal, data=body, provider=_provider(request), settings=settings
    )


@router.get("/calls", response_model=Page[CallRead])
async def list_calls(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[
        Literal[
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "completed",
            "busy",
            "failed",
            "no-answer",
            "canceled",
        ]
        | None,
        Query(alias="status"),
    ] = None,
    kind: Annotated[Literal["voice", "video"] | None, Query()] = None,
    created_from: Annotated[datetime | None, Query(alias="from")] = None,
    created_to: Annotated[datetime | None, Query(alias="to")] = None,
    number: Annotated[str | None, Query(max_length=20, pattern=r"^\+\d{6,15}$")] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    user_id: Annotated[str | None, Query(max_length=40)] = None,
    agent_session_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    principal.require(Scope.CALLS_READ)
    rows, cursor = await service.list_calls(
        session,
        principal=principal,
        params=page,
        status=status_,
        kind=kind,
        created_from=created_from,
        created_to=created_to,
        number=number,
        tag=tag,
        user_id=user_id,
        agent_session_id=agent_session_id,
    )
    return Page(data=[CallRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/calls/{call_id}", response_model=CallRead)
async def get_call(call_id: Id, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.CALLS_READ)
    return await service.get_call(session, principal=principal, call_id=call_id)


@router.get("/calls/{call_id}/actions", response_model=list[ActionRead])
async def list_call_actions(call_id: Id, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.CALLS_READ)
    call = await service.get_call(session, principal=principal, call_id=call_id)
    return await service.list_actions(session, call=call)


@router.post(
    "/calls/{call_id}/actions", response_model=ActionRead, status_code=status.HTTP_201_CREATED
)
async def act_on_call(
    call_id: Id,
    body: ActionCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    call = await service.lock_call(session, principal=principal, call_id=call_id)
    return await service.perform_action(
        session,
        call=call,
        action=body.action,
        parameters=body.parameters,
        provider=_provider(request),
    )


@router.post("/calls/{call_id}/quality", response_model=CallRead)
async def report_call_quality(
    call_id: Id, body: QualityReport, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    call = await service.lock_call(session, principal=principal, call_id=call_id)
    return await service.report_quality(session, call=call, report=body)


@router.post("/calls/{call_id}/review", response_model=CallRead)
async def review_call(
    call_id: Id, body: ReviewCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    call = await service.lock_call(session, principal=principal, call_id=call_id)
    return await service.review_call(session, call=call, review=body)


@router.patch("/calls/{call_id}/analysis", response_model=CallRead)
async def update_call_analysis(
    call_id: Id, body: AnalysisUpdate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    call = await service.lock_call(session, principal=principal, call_id=call_id)
    return await service.update_analysis(session, call=call, changes=body)


@router.get("/reports/call-quality", response_model=QualityStats)
async def call_quality_report(
    principal: CurrentPrincipal,
    session: DbSession,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> QualityStats:
    principal.require(Scope.CALLS_READ)
    return await reports.call_quality(session, org_id=principal.org_id, since=since, until=until)


@router.post(
    "/providers/twilio/voice/status",
    tags=["providers"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Twilio call status callbacks, verified with X-Twilio-Signature",
)
async def twilio_status_callback(
    request: Request, session: DbSession, settings: AppSettings
) -> Response:
    if settings.twilio_auth_token is None:
        raise ServiceUnavailable("Twilio is not configured (COMMBASE_TWILIO_AUTH_TOKEN)")
    # Twilio posts application/x-www-form-urlencoded; parsed here, as Starlette's form
    # parser needs python-multipart. Blank values are kept: they are part of the signature.
    body = (await request.body()).decode("utf-8", errors="replace")
    params = dict(parse_qsl(body, keep_blank_values=True))
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not signature_is_valid(
        auth_token=settings.twilio_auth_token.get_secret_value(),
        url=url,
        params=params,
        signature=request.headers.get("x-twilio-signature"),
    ):
        raise AuthenticationRequired("X-Twilio-Signature does not verify")
    event = event_from_callback(params)
    found = (
        await session.execute(
            select(Call.id, Call.org_id).where(
                Call.provider == "twilio", Call.provider_call_id == params.get("CallSid", "")
            )
        )
    ).first()
    if event is None or found is None:
        # Unknown calls (e.g. erased private calls) are acknowledged so Twilio stops retrying.
        log.info("twilio callback ignored", call_sid=params.get("CallSid"))
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    call = await lifecycle.load_for_update(session, org_id=found.org_id, call_id=found.id)
    await lifecycle.apply_event(session, call=call, event=event, source="twilio")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
