"""Support tickets for website visitors: ``/v1/intake/support/...`` with a publishable
key (scope ``intake:support``). The visitor opens a ticket and, with the access token
it returns, reads that ticket and its public thread, replies, rates and closes it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import NO_STORE
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import IntakeScope
from commbase.engagement.intake.access import VisitorAccess, issue_access, visitor_access
from commbase.engagement.intake.principal import Intake
from commbase.engagement.intake.schemas import IntakeReceipt, decoy_receipt
from commbase.engagement.support import service
from commbase.engagement.support.enums import INTAKE_RECORD_TYPE, AuthorType, TicketStatus
from commbase.engagement.support.models import SupportTicket
from commbase.engagement.support.schemas import (
    MessagePublic,
    SatisfactionCreate,
    TicketIntake,
    TicketPublic,
    VisitorMessageCreate,
)

router = APIRouter(prefix="/v1/intake/support", tags=["intake"])
RECORD_TYPE = INTAKE_RECORD_TYPE
Visit = Annotated[VisitorAccess, Depends(visitor_access(RECORD_TYPE, IntakeScope.SUPPORT))]


async def _ticket(session: DbSession, visit: VisitorAccess) -> SupportTicket:
    return await service.get_for_update(
        session, org_id=visit.principal.org_id, ticket_id=visit.record_id
    )


@router.post("/tickets", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED)
async def submit_ticket(
    body: TicketIntake,
    intake: Intake,
    response: Response,
    session: DbSession,
    settings: AppSettings,
) -> Any:
    """Open a ticket from a website form; the receipt's access token opens it."""
    intake.require(IntakeScope.SUPPORT)
    response.headers.update(NO_STORE)  # the receipt carries a secret: never stored
    if body.is_bot:
        return decoy_receipt(object_=RECORD_TYPE, id_prefix="tkt", status=TicketStatus.OPEN)
    ticket = await service.create_from_intake(session, org_id=intake.org_id, data=body)
    token = await issue_access(
        session,
        principal=intake,
        record_type=RECORD_TYPE,
        record_id=ticket.id,
        secret=settings.secret_key.get_secret_value(),
    )
    return IntakeReceipt(
        id=ticket.id,
        object=RECORD_TYPE,
        status=ticket.status,
        access_token=token,
        created_at=ticket.created_at,
    )


@router.get("/ticket", response_model=TicketPublic)
async def read_my_ticket(visit: Visit, session: DbSession) -> Any:
    """The ticket the access token opens (X-Access-Token)."""
    return await service.get_ticket(
        session, org_id=visit.principal.org_id, ticket_id=visit.record_id
    )


@router.get("/ticket/messages", response_model=Page[MessagePublic])
async def read_my_ticket_thread(visit: Visit, session: DbSession, page: PageQuery) -> Any:
    """The thread without internal notes."""
    ticket = await service.get_ticket(
        session, org_id=visit.principal.org_id, ticket_id=visit.record_id
    )
    rows, cursor = await service.list_messages(
        session, ticket=ticket, params=page, include_internal=False
    )
    return Page(data=[MessagePublic.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/ticket/messages", response_model=MessagePublic, status_code=status.HTTP_201_CREATED)
async def reply_to_my_ticket(body: VisitorMessageCreate, visit: Visit, session: DbSession) -> Any:
    ticket = await _ticket(session, visit)
    return await service.add_message(
        session, ticket=ticket, author_type=AuthorType.CUSTOMER, body=body.body
    )


@router.post("/ticket/satisfaction", response_model=TicketPublic)
async def rate_my_ticket(body: SatisfactionCreate, visit: Visit, session: DbSession) -> Any:
    ticket = await _ticket(session, visit)
    return await service.rate(session, ticket=ticket, data=body)


@router.post("/ticket/close", response_model=TicketPublic)
async def close_my_ticket(visit: Visit, session: DbSession) -> Any:
    """Withdraw (or close, once resolved) the ticket."""
    ticket = await _ticket(session, visit)
    return await service.close(session, ticket=ticket)
