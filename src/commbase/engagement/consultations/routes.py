"""Consultations for staff: ``/v1/support/consultations`` (scopes ``engagement:read`` and
``engagement:write``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.consultations import service
from commbase.engagement.consultations.enums import ConsultationStatus, ConsultationType
from commbase.engagement.consultations.schemas import (
    ConsultationCancel,
    ConsultationComplete,
    ConsultationCreate,
    ConsultationFeedbackCreate,
    ConsultationRead,
    ConsultationSchedule,
    ConsultationUpdate,
)

router = APIRouter(prefix="/v1/support/consultations", tags=["consultations"])
IdQuery = Annotated[str | None, Query(max_length=40)]


@router.post("", response_model=ConsultationRead, status_code=status.HTTP_201_CREATED)
async def create_consultation(
    body: ConsultationCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await service.create_consultation(session, org_id=principal.org_id, data=body)


@router.get("", response_model=Page[ConsultationRead])
async def list_consultations(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[ConsultationStatus | None, Query(alias="status")] = None,
    type_: Annotated[ConsultationType | None, Query(alias="type")] = None,
    user_id: IdQuery = None,
    contact_id: IdQuery = None,
    host_id: IdQuery = None,
    email: Annotated[
        str | None, Query(max_length=254, description="The requester's email (staff only)")
    ] = None,
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_consultations(
        session,
        org_id=principal.org_id,
        params=page,
        status=status_,
        type_=type_,
        user_id=user_id,
        contact_id=contact_id,
        host_id=host_id,
        email=email,
    )
    return Page(data=[ConsultationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{consultation_id}", response_model=ConsultationRead)
async def get_consultation(
    consultation_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    return await service.get_consultation(
        session, org_id=principal.org_id, consultation_id=consultation_id
    )


@router.patch("/{consultation_id}", response_model=ConsultationRead)
async def update_consultation(
    consultation_id: PathId,
    body: ConsultationUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    row = await service.get_consultation(
        session, org_id=principal.org_id, consultation_id=consultation_id, lock=True
    )
    return await service.update_consultation(session, row=row, changes=body)


@router.post("/{consultation_id}/schedule", response_model=ConsultationRead)
async def schedule_consultation(
    consultation_id: PathId,
    body: ConsultationSchedule,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    """Set or move the meeting (time, length, link, host)."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    row = await service.get_consultation(
        session, org_id=principal.org_id, consultation_id=consultation_id, lock=True
    )
    return await service.schedule(session, row=row, data=body)


@router.post("/{consultation_id}/complete", response_model=ConsultationRead)
async def complete_consultation(
    consultation_id: PathId,
    body: ConsultationComplete,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    row = await service.get_consultation(
        session, org_id=principal.org_id, consultation_id=consultation_id, lock=True
    )
    return await service.complete(session, row=row, data=body)


@router.post("/{consultation_id}/no-show", response_model=ConsultationRead)
async def consultation_no_show(
    consultation_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    row = await service.get_consultation(
        session, org_id=principal.org_id, consultation_id=consultation_id, lock=True
    )
    return await service.mark_no_show(session, row=row)


@router.post("/{consultation_id}/cancel", response_model=ConsultationRead)
async def cancel_consultation(
    consultation_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    body: ConsultationCancel | None = None,
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    row = await service.get_consultation(
        session, org_id=principal.org_id, consultation_id=consultation_id, lock=True
    )
    return await service.cancel(session, row=row, data=body or ConsultationCancel())


@router.post("/{consultation_id}/feedback", response_model=ConsultationRead)
async def consultation_feedback(
    consultation_id: PathId,
    body: ConsultationFeedbackCreate,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Any:
    """Record the requester's rating (1-5) and comment once the meeting took place."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    row = await service.get_consultation(
        session, org_id=principal.org_id, consultation_id=consultation_id, lock=True
    )
    return await service.give_feedback(session, row=row, data=body)
