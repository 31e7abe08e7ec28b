"""Webinar sign-up for website visitors: ``/v1/intake/webinars/...`` with a publishable
key (scope ``intake:webinars``). The visitor registers and, with the access token it
returns, reads that registration, cancels it or rates the webinar.

An email already registered gets a receipt like any other that opens nothing (the
first receipt still works): the form does not tell strangers who registered.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.scopes import IntakeScope
from commbase.engagement.intake.access import VisitorAccess, issue_access, visitor_access
from commbase.engagement.intake.principal import Intake
from commbase.engagement.intake.schemas import IntakeReceipt, decoy_receipt
from commbase.engagement.webinars import registrations
from commbase.engagement.webinars.enums import (
    INTAKE_RECORD_TYPE,
    RegistrationStatus,
)
from commbase.engagement.webinars.schemas import Feedback, RegistrationIntake, RegistrationPublic

router = APIRouter(prefix="/v1/intake/webinars", tags=["intake"])
Visit = Annotated[VisitorAccess, Depends(visitor_access(INTAKE_RECORD_TYPE, IntakeScope.WEBINARS))]
FULL: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"description": "The webinar is full or cancelled"}
}


async def _mine(session: DbSession, visit: VisitorAccess) -> Any:
    return await registrations.get_registration(
        session, org_id=visit.principal.org_id, registration_id=visit.record_id
    )


@router.post(
    "/registrations",
    response_model=IntakeReceipt,
    status_code=status.HTTP_201_CREATED,
    responses=FULL,
)
async def sign_up(
    body: RegistrationIntake, intake: Intake, session: DbSession, settings: AppSettings
) -> Any:
    """Register for a webinar from a website form; the receipt's token opens the registration."""
    intake.require(IntakeScope.WEBINARS)
    decoy = decoy_receipt(
        object_=INTAKE_RECORD_TYPE, id_prefix="wreg", status=RegistrationStatus.REGISTERED
    )
    if body.is_bot:
        return decoy
    registration = await registrations.register_visitor(
        session, org_id=intake.org_id, webinar_id=body.webinar_id, data=body
    )
    if registration is None:
        return decoy
    token = await issue_access(
        session,
        principal=intake,
        record_type=INTAKE_RECORD_TYPE,
        record_id=registration.id,
        secret=settings.secret_key.get_secret_value(),
    )
    return IntakeReceipt(
        id=registration.id,
        object=INTAKE_RECORD_TYPE,
        status=registration.status,
        access_token=token,
        created_at=registration.created_at,
    )


@router.get("/registration", response_model=RegistrationPublic)
async def read_my_registration(visit: Visit, session: DbSession) -> Any:
    """The registration the access token opens (X-Access-Token)."""
    return await _mine(session, visit)


@router.post("/registration/cancel", response_model=RegistrationPublic, responses=FULL)
async def cancel_my_registration(visit: Visit, session: DbSession) -> Any:
    return await registrations.cancel(session, registration=await _mine(session, visit))


@router.post("/registration/feedback", response_model=RegistrationPublic, responses=FULL)
async def rate_the_webinar(body: Feedback, visit: Visit, session: DbSession) -> Any:
    registration = await _mine(session, visit)
    return await registrations.give_feedback(session, registration=registration, feedback=body)
