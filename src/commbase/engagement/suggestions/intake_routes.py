"""Suggestions from website visitors: ``/v1/intake/suggestions`` with a publishable key
(scope ``intake:suggestions``). A visitor's suggestion has no author; the access
token it returns shows where it stands (status, score, implementation notes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import NO_STORE
from commbase.core.scopes import IntakeScope
from commbase.engagement.intake.access import VisitorAccess, issue_access, visitor_access
from commbase.engagement.intake.principal import Intake
from commbase.engagement.intake.schemas import IntakeReceipt, decoy_receipt
from commbase.engagement.suggestions import service
from commbase.engagement.suggestions.enums import INTAKE_RECORD_TYPE, SuggestionStatus
from commbase.engagement.suggestions.schemas import (
    SuggestionCreate,
    SuggestionIntake,
    SuggestionPublic,
)

router = APIRouter(prefix="/v1/intake", tags=["intake"])
RECORD_TYPE = INTAKE_RECORD_TYPE
Visit = Annotated[VisitorAccess, Depends(visitor_access(RECORD_TYPE, IntakeScope.SUGGESTIONS))]


@router.post("/suggestions", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED)
async def submit_suggestion(
    body: SuggestionIntake,
    intake: Intake,
    response: Response,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    """Suggest something from a website form; the receipt's token follows it."""
    intake.require(IntakeScope.SUGGESTIONS)
    response.headers.update(NO_STORE)  # the receipt carries a secret: never stored
    if body.is_bot:
        return decoy_receipt(
            object_=RECORD_TYPE, id_prefix="sug", status=SuggestionStatus.SUBMITTED
        )
    data = SuggestionCreate(title=body.title, description=body.description, category=body.category)
    suggestion = await service.create(
        session, org_id=intake.org_id, author_user_id=None, data=data, author_email=body.email
    )
    token = await issue_access(
        session,
        principal=intake,
        record_type=RECORD_TYPE,
        record_id=suggestion.id,
        secret=settings.secret_key.get_secret_value(),
    )
    return IntakeReceipt(
        id=suggestion.id,
        object=RECORD_TYPE,
        status=suggestion.status,
        access_token=token,
        created_at=suggestion.created_at,
    )


@router.get("/suggestion", response_model=SuggestionPublic)
async def read_my_suggestion(visit: Visit, session: DbSession) -> Any:
    """The suggestion the access token opens (X-Access-Token)."""
    return await service.get(session, org_id=visit.principal.org_id, suggestion_id=visit.record_id)
