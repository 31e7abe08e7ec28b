"""Consultation requests from website visitors: ``/v1/intake/support/consultation...``
with a publishable key (scope ``intake:consultations``); the access token the request
returns reads the consultation (time, meeting link), cancels it and gives feedback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import NO_STORE
from commbase.core.scopes import IntakeScope
from commbase.engagement.consultations import service
from commbase.engagement.consultations.enums import INTAKE_RECORD_TYPE, ConsultationStatus
from commbase.engagement.consultations.schemas import (
    ConsultationCancel,
    ConsultationFeedbackCreate,
    ConsultationIntake,
    ConsultationPublic,
)
from commbase.engagement.intake.access import VisitorAccess, issue_access, visitor_access
from commbase.engagement.intake.principal import Intake
from commbase.engagement.intake.schemas import IntakeReceipt, decoy_receipt

router = APIRouter(prefix="/v1/intake/support", tags=["intake"])
Visit = Annotated[
    VisitorAccess, Depends(visitor_access(INTAKE_RECORD_TYPE, IntakeScope.CONSULTATIONS))
]


@router.post("/consultations", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED)
async def request_consultation(
    body: ConsultationIntake,
    intake: Intake,
    response: Response,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    intake.require(IntakeScope.CONSULTATIONS)
    response.headers.update(NO_STORE)  # the receipt carries a secret: never stored
    if body.is_bot:
        return decoy_receipt(
            object_=INTAKE_RECORD_TYPE, id_prefix="cons", status=ConsultationStatus.REQUESTED
        )
    row = await service.create_from_intake(session, org_id=intake.org_id, data=body)
    token = await issue_access(
        session,
        principal=intake,
        record_type=INTAKE_RECORD_TYPE,
        record_id=row.id,
        secret=settings.secret_key.get_secret_value(),
    )
    return IntakeReceipt(
        id=row.id,
        object=INTAKE_RECORD_TYPE,
        status=row.status,
        access_token=token,
        created_at=row.created_at,
    )


@router.get("/consultation", response_model=ConsultationPublic)
async def read_my_consultation(visit: Visit, session: DbSession) -> Any:
    return await service.get_consultation(
        session, org_id=visit.principal.org_id, consultation_id=visit.record_id
    )


@router.post("/consultation/cancel", response_model=ConsultationPublic)
async def cancel_my_consultation(
    visit: Visit, session: DbSession, body: ConsultationCancel | None = None
) -> Any:
    row = await service.get_consultation(
        session, org_id=visit.principal.org_id, consultation_id=visit.record_id, lock=True
    )
    return await service.cancel(session, row=row, data=body or ConsultationCancel())


@router.post("/consultation/feedback", response_model=ConsultationPublic)
async def rate_my_consultation(
    body: ConsultationFeedbackCreate, visit: Visit, session: DbSession
) -> Any:
    row = await service.get_consultation(
        session, org_id=visit.principal.org_id, consultation_id=visit.record_id, lock=True
    )
    return await service.give_feedback(session, row=row, data=body)
