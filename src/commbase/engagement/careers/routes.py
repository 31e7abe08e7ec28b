"""Careers for staff: ``/v1/careers/positions`` and ``/v1/careers/applications`` (scopes
``engagement:read`` and ``engagement:write``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.errors import NotFound
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.careers import interviews, resumes, service
from commbase.engagement.careers.enums import ApplicationStage, PositionStatus
from commbase.engagement.careers.schemas import (
    ApplicationCreate,
    ApplicationRead,
    InterviewCreate,
    InterviewRead,
    InterviewUpdate,
    OfferCreate,
    PositionCreate,
    PositionRead,
    PositionUpdate,
    StageChange,
    Withdrawal,
)

router = APIRouter(prefix="/v1/careers", tags=["careers"])
IdQuery = Annotated[str | None, Query(max_length=40)]
FileName = Annotated[str | None, Query(max_length=200, description="The file's name")]


def resume_policy(settings: AppSettings) -> resumes.ResumePolicy:
    return resumes.ResumePolicy(
        folder=Path(settings.careers_resume_dir),
        max_bytes=settings.careers_resume_max_bytes,
        types=frozenset(settings.careers_resume_types),
    )


Policy = Annotated[resumes.ResumePolicy, Depends(resume_policy)]
RESUME_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in resumes.SIGNATURES
        },
    }
}


@router.post("/positions", response_model=PositionRead, status_code=status.HTTP_201_CREATED)
async def create_position(
    body: PositionCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await service.create_position(session, org_id=principal.org_id, data=body)


@router.get("/positions", response_model=Page[PositionRead])
async def list_positions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[PositionStatus | None, Query(alias="status")] = None,
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_positions(
        session, org_id=principal.org_id, params=page, status=status_
    )
    return Page(data=[PositionRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/positions/{position_id}", response_model=PositionRead)
async def get_position(position_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    return await service.get_position(session, org_id=principal.org_id, position_id=position_id)


@router.patch("/positions/{position_id}", response_model=PositionRead)
async def update_position(
    position_id: PathId, body: PositionUpdate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    position = await service.get_position(session, org_id=principal.org_id, position_id=position_id)
    return await service.update_position(session, position=position, changes=body)


@router.post("/applications", response_model=ApplicationRead, status_code=status.HTTP_201_CREATED)
async def create_application(
    body: ApplicationCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await service.create_application(session, org_id=principal.org_id, data=body)


@router.get("/applications", response_model=Page[ApplicationRead])
async def list_applications(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    position_id: IdQuery = None,
    stage: ApplicationStage | None = None,
    user_id: IdQuery = None,
    email: Annotated[
        str | None, Query(max_length=254, description="The applicant's email (staff only)")
    ] = None,
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_applications(
        session,
        org_id=principal.org_id,
        params=page,
        position_id=position_id,
        stage=stage,
        email=email,
        user_id=user_id,
    )
    return Page(data=[ApplicationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/applications/{application_id}", response_model=ApplicationRead)
async def get_application(
    application_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    return await service.get_application(
        session, org_id=principal.org_id, application_id=application_id
    )


async def _locked(session: DbSession, principal: CurrentPrincipal, application_id: str) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await service.get_application(
        session, org_id=principal.org_id, application_id=application_id, lock=True
    )


@router.post("/applications/{application_id}/stage", response_model=ApplicationRead)
async def change_application_stage(
    application_id: PathId, body: StageChange, principal: CurrentPrincipal, session: DbSession
) -> Any:
    """Move along the documented transitions (see the README); 409 otherwise."""
    application = await _locked(session, principal, application_id)
    return await service.change_stage(
        session, application=application, stage=body.stage, reason=body.reason
    )


@router.post("/applications/{application_id}/offer", response_model=ApplicationRead)
async def extend_offer(
    application_id: PathId, body: OfferCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    application = await _locked(session, principal, application_id)
    return await service.extend_offer(session, application=application, offer=body)


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationRead)
async def withdraw_application(
    application_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    body: Withdrawal | None = None,
) -> Any:
    application = await _locked(session, principal, application_id)
    return await service.change_stage(
        session,
        application=application,
        stage=ApplicationStage.WITHDRAWN,
        reason=(body or Withdrawal()).reason,
    )


@router.put(
    "/applications/{application_id}/resume",
    response_model=ApplicationRead,
    openapi_extra=RESUME_BODY,
)
async def upload_resume(
    application_id: PathId,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    policy: Policy,
    filename: FileName = None,
) -> Any:
    """The resume as the raw body, with its Content-Type (PDF, DOC or DOCX)."""
    application = await _locked(session, principal, application_id)
    return await service.attach_resume(
        session,
        application=application,
        content=await request.body(),
        content_type=request.headers.get("content-type"),
        filename=filename,
        policy=policy,
    )


@router.get(
    "/applications/{application_id}/resume",
    response_class=Response,
    responses={200: {"content": {t: {} for t in resumes.SIGNATURES}}},
)
async def download_resume(
    application_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Response:
    principal.require(Scope.ENGAGEMENT_READ)
    application = await service.get_application(
        session, org_id=principal.org_id, application_id=application_id
    )
    if not application.resume_path:
        raise NotFound("This application has no resume")
    content = await resumes.read(application.resume_path)
    return Response(
        content,
        media_type=application.resume_content_type,
        headers={"Content-Disposition": "attachment"},
    )


@router.post(
    "/applications/{application_id}/interviews",
    response_model=InterviewRead,
    status_code=status.HTTP_201_CREATED,
)
async def schedule_interview(
    application_id: PathId, body: InterviewCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    application = await _locked(session, principal, application_id)
    return await interviews.schedule(session, application=application, data=body)


@router.get("/applications/{application_id}/interviews", response_model=Page[InterviewRead])
async def list_interviews(
    application_id: PathId, principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    application = await service.get_application(
        session, org_id=principal.org_id, application_id=application_id
    )
    rows, cursor = await interviews.list_interviews(session, application=application, params=page)
    return Page(data=[InterviewRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.patch(
    "/applications/{application_id}/interviews/{interview_id}", response_model=InterviewRead
)
async def update_interview(
    application_id: PathId,
    interview_id: PathId,
    body: InterviewUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    """Move, complete (rating, notes) or cancel a scheduled interview."""
    application = await _locked(session, principal, application_id)
    interview = await interviews.get_interview(
        session, application=application, interview_id=interview_id
    )
    return await interviews.update(session, interview=interview, changes=body)
