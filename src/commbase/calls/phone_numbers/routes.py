"""Phone numbers API: ``/v1/phone-numbers``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from commbase.calls.inbound.enums import InboundRoute
from commbase.calls.inbound.schemas import InboundCallRead
from commbase.calls.inbound.simulator import simulate_inbound
from commbase.calls.live.connect_start import start_after_commit
from commbase.calls.phone_numbers import service
from commbase.calls.phone_numbers.models import PhoneNumber
from commbase.calls.phone_numbers.schemas import (
    PhoneNumberCreate,
    PhoneNumberRead,
    PhoneNumberUpdate,
    SimulatedInbound,
)
from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.settings import Settings

router = APIRouter(prefix="/v1/phone-numbers", tags=["phone numbers"])


@router.post(
    "",
    response_model=PhoneNumberRead,
    status_code=status.HTTP_201_CREATED,
    summary="Register a phone number (Twilio numbers are pointed at commbase)",
)
async def create_phone_number(
    body: PhoneNumberCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.ORG_WRITE)
    number = await service.create_number(
        session,
        org_id=principal.org_id,
        data=body,
        settings=settings,
        services=request.app.state.job_services,
    )
    return _shown(number, settings=settings, made=number.connect_secret_encrypted is not None)


def _shown(number: PhoneNumber, *, settings: Settings, made: bool) -> PhoneNumberRead:
    """The number as read, with its handshake secret when it was just made."""
    read = PhoneNumberRead.model_validate(number)
    if made:
        read.connect_secret = service.connect_secret(number, settings=settings)
    return read


@router.get("", response_model=Page[PhoneNumberRead])
async def list_phone_numbers(
    principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Any:
    principal.require(Scope.CALLS_READ)
    rows, cursor = await service.list_numbers(session, org_id=principal.org_id, params=page)
    return Page(data=[PhoneNumberRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{number_id}", response_model=PhoneNumberRead)
async def get_phone_number(
    number_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.CALLS_READ)
    return await service.get_number(session, org_id=principal.org_id, number_id=number_id)


@router.patch("/{number_id}", response_model=PhoneNumberRead)
async def update_phone_number(
    number_id: PathId,
    body: PhoneNumberUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.ORG_WRITE)
    number = await service.get_number(session, org_id=principal.org_id, number_id=number_id)
    before = number.connect_secret_encrypted
    await service.update_number(session, number=number, changes=body, settings=settings)
    made = number.connect_secret_encrypted not in (None, before)
    return _shown(number, settings=settings, made=made)


@router.delete("/{number_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_phone_number(
    number_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Response:
    principal.require(Scope.ORG_WRITE)
    number = await service.get_number(session, org_id=principal.org_id, number_id=number_id)
    await service.delete_number(session, number=number)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{number_id}/simulate-inbound",
    response_model=InboundCallRead,
    status_code=status.HTTP_201_CREATED,
    summary="Ring a simulator number from a simulated caller",
    description=(
        "Routes the call as a carrier's would be (working hours, answer mode, wallet) "
        "and answers with the call and its route; the simulated caller hangs up after "
        "`duration_s`. Only simulator numbers take simulated calls (409 otherwise). "
        "A call to a connect number is bridged to the number's `connect_url` at once."
    ),
)
async def simulate_inbound_call(
    number_id: PathId,
    body: SimulatedInbound,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.CALLS_CREATE)
    number = await service.get_number(session, org_id=principal.org_id, number_id=number_id)
    inbound = await simulate_inbound(
        session,
        number=number,
        from_number=body.from_,
        duration_s=body.duration_s,
        settings=settings,
        livemode=principal.livemode,
    )
    if inbound.route == InboundRoute.CONNECT and not inbound.replayed:
        # Answered at once: commbase connects out to the number's agent after commit.
        start_after_commit(
            session, request.app, org_id=inbound.call.org_id, call_id=inbound.call.id
        )
    return InboundCallRead.of(inbound)
