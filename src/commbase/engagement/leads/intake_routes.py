"""Enquiries from the website ("contact us"): ``/v1/intake/leads`` with a publishable
key (scope ``intake:leads``). The visitor's enquiry becomes a lead scored by the
default rule; the access token it returns reads that lead's status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.scopes import IntakeScope
from commbase.engagement.intake.access import VisitorAccess, issue_access, visitor_access
from commbase.engagement.intake.principal import Intake
from commbase.engagement.intake.schemas import IntakeReceipt, decoy_receipt
from commbase.engagement.leads import service
from commbase.engagement.leads.enums import FollowUpStatus
from commbase.engagement.leads.schemas import LeadIntake, LeadPublic

router = APIRouter(prefix="/v1/intake", tags=["intake"])
RECORD_TYPE = "lead"
Visit = Annotated[VisitorAccess, Depends(visitor_access(RECORD_TYPE, IntakeScope.LEADS))]


@router.post("/leads", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED)
async def submit_enquiry(
    body: LeadIntake, intake: Intake, session: DbSession, settings: AppSettings
) -> Any:
    """Send an enquiry from a website form; the receipt's access token reads it."""
    intake.require(IntakeScope.LEADS)
    if body.is_bot:
        return decoy_receipt(object_=RECORD_TYPE, id_prefix="lead", status=FollowUpStatus.PENDING)
    lead = await service.create_from_intake(
        session,
        org_id=intake.org_id,
        data=body,
        thresholds=service.Thresholds(hot=settings.lead_hot_score, warm=settings.lead_warm_score),
    )
    token = await issue_access(
        session,
        principal=intake,
        record_type=RECORD_TYPE,
        record_id=lead.id,
        secret=settings.secret_key.get_secret_value(),
    )
    return IntakeReceipt(
        id=lead.id,
        object=RECORD_TYPE,
        status=lead.follow_up_status,
        access_token=token,
        created_at=lead.created_at,
    )


@router.get("/lead", response_model=LeadPublic)
async def read_my_enquiry(visit: Visit, session: DbSession) -> Any:
    """The enquiry the access token opens (X-Access-Token)."""
    return await service.get_lead(session, org_id=visit.principal.org_id, lead_id=visit.record_id)
