"""Webinars and registrations API (seed 002 ``webinars.js``), for staff credentials.

Looking registrations up by email or user is here, behind ``engagement:read``:
unlike the seed's open ``GET /registrations/email/:email``, nobody can learn who
registered without staff credentials.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId, UtcDateTime
from commbase.engagement.webinars import registrations, service
from commbase.engagement.webinars.enums import (
    RegistrationSource,
    RegistrationStatus,
    WebinarStatus,
)
from commbase.engagement.webinars.models import Webinar, WebinarRegistration
from commbase.engagement.webinars.schemas import (
    Engagement,
    Feedback,
    RegistrationCreate,
    RegistrationRead,
    WebinarCreate,
    WebinarRead,
    WebinarUpdate,
)

router = APIRouter(prefix="/v1/webinars", tags=["webinars"])
registrations_router = APIRouter(prefix="/v1/webinar-registrations", tags=["webinars"])

STATE: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "description": "The email is registered already, the webinar is full or cancelled, "
        "or the registration's state does not allow it"
    }
}
Filter = Annotated[str | None, Query(max_length=320)]


async def _read(session: DbSession, webinar: Webinar) -> WebinarRead:
    counts = await service.registered_counts(session, webinar_ids=[webinar.id])
    return WebinarRead.model_validate(
        {
            **{c.key: getattr(webinar, c.key) for c in Webinar.__table__.columns},
            "registered": counts[webinar.id],
        }
    )


async def _registration(
    registration_id: str, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    return await registrations.get_registration(
        session, org_id=principal.org_id, registration_id=registration_id
    )


@router.post("", response_model=WebinarRead, status_code=status.HTTP_201_CREATED)
async def create_webinar(
    body: WebinarCreate, principal: CurrentPrincipal, session: DbSession
) -> WebinarRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await _read(
        session, await service.create_webinar(session, org_id=principal.org_id, data=body)
    )


@router.get("", response_model=Page[WebinarRead])
async def list_webinars(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status: WebinarStatus | None = None,
    starts_from: Annotated[UtcDateTime | None, Query()] = None,
    starts_before: Annotated[UtcDateTime | None, Query()] = None,
) -> Page[WebinarRead]:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_webinars(
        session,
        org_id=principal.org_id,
        params=page,
        status=status,
        starts_from=starts_from,
        starts_before=starts_before,
    )
    counts = await service.registered_counts(session, webinar_ids=[r.id for r in rows])
    data = [
        WebinarRead.model_validate(
            {
                **{c.key: getattr(r, c.key) for c in Webinar.__table__.columns},
                "registered": counts[r.id],
            }
        )
        for r in rows
    ]
    return Page(data=data, next_cursor=cursor)


@router.get("/{webinar_id}", response_model=WebinarRead)
async def get_webinar(
    webinar_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> WebinarRead:
    principal.require(Scope.ENGAGEMENT_READ)
    webinar = await service.get_webinar(session, org_id=principal.org_id, webinar_id=webinar_id)
    return await _read(session, webinar)


@router.patch("/{webinar_id}", response_model=WebinarRead, responses=STATE)
async def update_webinar(
    webinar_id: PathId, body: WebinarUpdate, principal: CurrentPrincipal, session: DbSession
) -> WebinarRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    webinar = await service.get_webinar(session, org_id=principal.org_id, webinar_id=webinar_id)
    return await _read(
        session, await service.update_webinar(session, webinar=webinar, changes=body)
    )


@router.post("/{webinar_id}/cancel", response_model=WebinarRead, responses=STATE)
async def cancel_webinar(
    webinar_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> WebinarRead:
    principal.require(Scope.ENGAGEMENT_WRITE)
    webinar = await service.get_webinar(session, org_id=principal.org_id, webinar_id=webinar_id)
    return await _read(session, await service.cancel_webinar(session, webinar=webinar))


@router.post(
    "/{webinar_id}/registrations",
    response_model=RegistrationRead,
    status_code=status.HTTP_201_CREATED,
    responses=STATE,
)
async def register(
    webinar_id: PathId, body: RegistrationCreate, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    """Register someone (seed: ``POST /api/webinars/register``); one per email."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await registrations.register(
        session,
        org_id=principal.org_id,
        webinar_id=webinar_id,
        data=body,
        source=RegistrationSource.STAFF,
        user_id=body.user_id,
        contact_id=body.contact_id,
    )


@registrations_router.get("", response_model=Page[RegistrationRead])
async def list_registrations(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    webinar_id: Annotated[str | None, Query(max_length=40)] = None,
    email: Filter = None,
    user_id: Annotated[str | None, Query(max_length=40)] = None,
    contact_id: Annotated[str | None, Query(max_length=40)] = None,
    status: RegistrationStatus | None = None,
) -> Any:
    """Registrations, by webinar, email (seed: ``/registrations/email/:email``) or user
    (seed: ``/registrations/user/:userId``)."""
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await registrations.list_registrations(
        session,
        org_id=principal.org_id,
        params=page,
        webinar_id=webinar_id,
        email=email,
        user_id=user_id,
        contact_id=contact_id,
        status=status,
    )
    return Page(data=[RegistrationRead.model_validate(r) for r in rows], next_cursor=cursor)


@registrations_router.get("/{registration_id}", response_model=RegistrationRead)
async def get_registration(
    registration_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    principal.require(Scope.ENGAGEMENT_READ)
    return await _registration(registration_id, principal, session)


@registrations_router.post(
    "/{registration_id}/cancel", response_model=RegistrationRead, responses=STATE
)
async def cancel_registration(
    registration_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    principal.require(Scope.ENGAGEMENT_WRITE)
    registration = await _registration(registration_id, principal, session)
    return await registrations.cancel(session, registration=registration)


@registrations_router.post(
    "/{registration_id}/join", response_model=RegistrationRead, responses=STATE
)
async def join(
    registration_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    """Track attendance: the registrant joined (seed: ``/registrations/:id/join``)."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    registration = await _registration(registration_id, principal, session)
    return await registrations.join(session, registration=registration)


@registrations_router.post(
    "/{registration_id}/leave", response_model=RegistrationRead, responses=STATE
)
async def leave(
    registration_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    principal.require(Scope.ENGAGEMENT_WRITE)
    registration = await _registration(registration_id, principal, session)
    return await registrations.leave(session, registration=registration)


@registrations_router.post(
    "/{registration_id}/engagement", response_model=RegistrationRead, responses=STATE
)
async def add_engagement(
    registration_id: PathId, body: Engagement, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    """Add questions asked, polls answered and chat messages to the counts."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    registration = await _registration(registration_id, principal, session)
    return await registrations.add_engagement(session, registration=registration, counts=body)


@registrations_router.post(
    "/{registration_id}/feedback", response_model=RegistrationRead, responses=STATE
)
async def give_feedback(
    registration_id: PathId, body: Feedback, principal: CurrentPrincipal, session: DbSession
) -> WebinarRegistration:
    principal.require(Scope.ENGAGEMENT_WRITE)
    registration = await _registration(registration_id, principal, session)
    return await registrations.give_feedback(session, registration=registration, feedback=body)
