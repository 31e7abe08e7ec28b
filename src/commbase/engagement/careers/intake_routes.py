"""Careers for website visitors: the open positions, an application (publishable key
with ``intake:careers``), then with its access token: read it, attach the resume,
answer an offer, withdraw."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import NO_STORE
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import IntakeScope
from commbase.engagement.careers import service
from commbase.engagement.careers.enums import (
    INTAKE_RECORD_TYPE,
    ApplicationStage,
    PositionStatus,
)
from commbase.engagement.careers.routes import RESUME_BODY, FileName, Policy
from commbase.engagement.careers.schemas import (
    ApplicationIntake,
    ApplicationPublic,
    PositionRead,
    Withdrawal,
)
from commbase.engagement.intake.access import VisitorAccess, issue_access, visitor_access
from commbase.engagement.intake.principal import Intake
from commbase.engagement.intake.schemas import IntakeReceipt, decoy_receipt

router = APIRouter(prefix="/v1/intake/careers", tags=["intake"])
Visit = Annotated[VisitorAccess, Depends(visitor_access(INTAKE_RECORD_TYPE, IntakeScope.CAREERS))]


@router.get("/positions", response_model=Page[PositionRead])
async def open_positions(intake: Intake, session: DbSession, page: PageQuery) -> Any:
    intake.require(IntakeScope.CAREERS)
    rows, cursor = await service.list_positions(
        session, org_id=intake.org_id, params=page, status=PositionStatus.OPEN
    )
    return Page(data=[PositionRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/applications", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED)
async def apply(
    body: ApplicationIntake,
    intake: Intake,
    response: Response,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    intake.require(IntakeScope.CAREERS)
    response.headers.update(NO_STORE)  # the receipt carries a secret: never stored
    if body.is_bot:
        return decoy_receipt(
            object_=INTAKE_RECORD_TYPE, id_prefix="japp", status=ApplicationStage.SUBMITTED
        )
    application = await service.submit_from_intake(session, org_id=intake.org_id, data=body)
    token = await issue_access(
        session,
        principal=intake,
        record_type=INTAKE_RECORD_TYPE,
        record_id=application.id,
        secret=settings.secret_key.get_secret_value(),
    )
    return IntakeReceipt(
        id=application.id,
        object=INTAKE_RECORD_TYPE,
        status=application.stage,
        access_token=token,
        created_at=application.created_at,
    )


async def _mine(session: DbSession, visit: VisitorAccess, *, lock: bool = False) -> Any:
    return await service.get_application(
        session, org_id=visit.principal.org_id, application_id=visit.record_id, lock=lock
    )


@router.get("/application", response_model=ApplicationPublic)
async def read_my_application(visit: Visit, session: DbSession) -> Any:
    return await _mine(session, visit)


@router.put("/application/resume", response_model=ApplicationPublic, openapi_extra=RESUME_BODY)
async def upload_my_resume(
    visit: Visit,
    request: Request,
    session: DbSession,
    policy: Policy,
    filename: FileName = None,
) -> Any:
    """The resume as the raw body with its Content-Type (PDF, DOC or DOCX)."""
    return await service.attach_resume(
        session,
        application=await _mine(session, visit, lock=True),
        content=await request.body(),
        content_type=request.headers.get("content-type"),
        filename=filename,
        policy=policy,
    )


@router.post("/application/offer/accept", response_model=ApplicationPublic)
async def accept_my_offer(visit: Visit, session: DbSession) -> Any:
    return await service.change_stage(
        session,
        application=await _mine(session, visit, lock=True),
        stage=ApplicationStage.OFFER_ACCEPTED,
    )


@router.post("/application/offer/decline", response_model=ApplicationPublic)
async def decline_my_offer(visit: Visit, session: DbSession) -> Any:
    return await service.change_stage(
        session,
        application=await _mine(session, visit, lock=True),
        stage=ApplicationStage.OFFER_DECLINED,
    )


@router.post("/application/withdraw", response_model=ApplicationPublic)
async def withdraw_my_application(
    visit: Visit, session: DbSession, body: Withdrawal | None = None
) -> Any:
    return await service.change_stage(
        session,
        application=await _mine(session, visit, lock=True),
        stage=ApplicationStage.WITHDRAWN,
        reason=(body or Withdrawal()).reason,
    )
