"""Calls API and the Twilio status callback."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Query, Request, Response, status

from commbase.billing import service as billing_service
from commbase.calls import placement, reports, service
from commbase.calls.enums import CallKind, CallStatus
from commbase.calls.providers import Carriers, carriers_of
from commbase.calls.providers.twilio import CALL_PARAMETER, signature_is_valid
from commbase.calls.schemas import (
    ActionCreate,
    ActionList,
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
from commbase.core.idempotency import REPLAYED_HEADER, request_key
from commbase.core.pagination import Page, PageQuery
from commbase.core.replicas import ReadSession
from commbase.core.scopes import Scope
from commbase.core.types import PathId, UtcDateTime
from commbase.settings import Settings

router = APIRouter(prefix="/v1", tags=["calls"])
log = structlog.get_logger("commbase.calls")


def _carriers(request: Request) -> Carriers:
    return carriers_of(request.app.state.job_services)


@router.post(
    "/calls",
    response_model=CallRead,
    status_code=status.HTTP_201_CREATED,
    summary="Place a call (send an Idempotency-Key to make retries safe)",
    description=(
        "Holds the call's funds and answers with the call `queued`; the carrier is "
        "dialed right after. A retry with the same `Idempotency-Key` answers with the "
        "call the first request placed, never a second one. Test-mode credentials "
        "always dial the simulator."
    ),
)
async def place_call(
    body: CallCreate,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    principal.require(Scope.CALLS_CREATE)
    # The settings from the app, not an ``AppSettings`` dependency: one dependency
    # fewer for FastAPI to solve on the busiest write.
    settings: Settings = request.app.state.settings
    placed = await placement.place_call(
        session,
        principal=principal,
        data=body,
        carriers=_carriers(request),
        settings=settings,
        idempotency_key=request_key(request),
    )
    if placed.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return placed.call


@router.get("/calls", response_model=Page[CallRead])
async def list_calls(
    principal: CurrentPrincipal,
    session: ReadSession,  # a caught-up replica may serve it (core.replicas)
    page: PageQuery,
    status_: Annotated[CallStatus | None, Query(alias="status")] = None,
    kind: Annotated[CallKind | None, Query()] = None,
    created_from: Annotated[UtcDateTime | None, Query(alias="from")] = None,
    created_to: Annotated[UtcDateTime | None, Query(alias="to")] = None,
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
async def get_call(call_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.CALLS_READ)
    return await service.get_call(session, principal=principal, call_id=call_id)


@router.get("/calls/{call_id}/actions", response_model=ActionList)
async def list_call_actions(
    call_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> ActionList:
    principal.require(Scope.CALLS_READ)
    call = await service.get_call(session, principal=principal, call_id=call_id)
    actions = await service.list_actions(session, call=call)
    return ActionList(data=[ActionRead.model_validate(action) for action in actions])


@router.post(
    "/calls/{call_id}/actions", response_model=ActionRead, status_code=status.HTTP_201_CREATED
)
async def act_on_call(
    call_id: PathId,
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
        carriers=_carriers(request),
    )


@router.post("/calls/{call_id}/quality", response_model=CallRead)
async def report_call_quality(
    call_id: PathId, body: QualityReport, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    call = await service.lock_call(session, principal=principal, call_id=call_id)
    return await service.report_quality(session, call=call, report=body)


@router.post("/calls/{call_id}/review", response_model=CallRead)
async def review_call(
    call_id: PathId, body: ReviewCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    call = await service.lock_call(session, principal=principal, call_id=call_id)
    return await service.review_call(session, call=call, review=body)


@router.patch("/calls/{call_id}/analysis", response_model=CallRead)
async def update_call_analysis(
    call_id: PathId, body: AnalysisUpdate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_WRITE)
    call = await service.lock_call(session, principal=principal, call_id=call_id)
    return await service.update_analysis(session, call=call, changes=body)


@router.get("/reports/call-quality", response_model=QualityStats)
async def call_quality_report(
    principal: CurrentPrincipal,
    session: DbSession,
    since: Annotated[UtcDateTime | None, Query(alias="from")] = None,
    until: Annotated[UtcDateTime | None, Query(alias="to")] = None,
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
    signature = request.headers.get("x-twilio-signature")
    # The same refusal whether or not Twilio is configured: an unsigned request learns
    # nothing about the deployment.
    if not signature:
        raise AuthenticationRequired("X-Twilio-Signature is missing")
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
        signature=signature,
    ):
        raise AuthenticationRequired("X-Twilio-Signature does not verify")
    known = await service.apply_twilio_report(
        session,
        params=params,
        call_ref=request.query_params.get(CALL_PARAMETER),
        carriers=_carriers(request),
        # Many calls of one wallet end together: their charges share commits.
        debits=billing_service.GroupedDebits.of(request.app.state.db),
    )
    if not known:
        # Unknown calls (e.g. erased private calls) are acknowledged so Twilio stops retrying.
        log.info("twilio callback ignored", call_sid=params.get("CallSid"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
