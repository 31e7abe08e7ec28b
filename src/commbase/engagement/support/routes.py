"""Support tickets for staff: ``/v1/support/tickets`` (scopes ``engagement:read`` and
``engagement:write``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.support import service
from commbase.engagement.support.enums import (
    AuthorType,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)
from commbase.engagement.support.schemas import (
    MessageCreate,
    MessageRead,
    SatisfactionCreate,
    TicketCreate,
    TicketRead,
    TicketResolve,
    TicketUpdate,
)

router = APIRouter(prefix="/v1/support/tickets", tags=["support"])
IdQuery = Annotated[str | None, Query(max_length=40)]
INT32_MAX = 2**31 - 1  # ticket numbers are INTEGER columns


@router.post("", response_model=TicketRead, status_code=status.HTTP_201_CREATED)
async def create_ticket(body: TicketCreate, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    return await service.create_ticket(session, org_id=principal.org_id, data=body)


@router.get("", response_model=Page[TicketRead])
async def list_tickets(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
    priority: TicketPriority | None = None,
    category: TicketCategory | None = None,
    assignee_id: IdQuery = None,
    user_id: IdQuery = None,
    contact_id: IdQuery = None,
    email: Annotated[
        str | None,
        Query(max_length=254, description="The requester's email (staff only)"),
    ] = None,
    number: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_tickets(
        session,
        org_id=principal.org_id,
        params=page,
        status=status_,
        priority=priority,
        category=category,
        assignee_id=assignee_id,
        user_id=user_id,
        contact_id=contact_id,
        email=email,
        number=number,
    )
    return Page(data=[TicketRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{ticket_id}", response_model=TicketRead)
async def get_ticket(ticket_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.ENGAGEMENT_READ)
    return await service.get_ticket(session, org_id=principal.org_id, ticket_id=ticket_id)


@router.patch("/{ticket_id}", response_model=TicketRead)
async def update_ticket(
    ticket_id: PathId, body: TicketUpdate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    ticket = await service.get_for_update(session, org_id=principal.org_id, ticket_id=ticket_id)
    return await service.update_ticket(session, ticket=ticket, changes=body)


@router.get("/{ticket_id}/messages", response_model=Page[MessageRead])
async def list_ticket_messages(
    ticket_id: PathId, principal: CurrentPrincipal, session: DbSession, page: PageQuery
) -> Any:
    """The whole thread, internal notes included."""
    principal.require(Scope.ENGAGEMENT_READ)
    ticket = await service.get_ticket(session, org_id=principal.org_id, ticket_id=ticket_id)
    rows, cursor = await service.list_messages(
        session, ticket=ticket, params=page, include_internal=True
    )
    return Page(data=[MessageRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/{ticket_id}/messages", response_model=MessageRead, status_code=status.HTTP_201_CREATED
)
async def add_ticket_message(
    ticket_id: PathId, body: MessageCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    """A staff reply, or an internal note (``internal: true``) the customer never sees."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    ticket = await service.get_for_update(session, org_id=principal.org_id, ticket_id=ticket_id)
    return await service.add_message(
        session,
        ticket=ticket,
        author_type=AuthorType.STAFF,
        author_user_id=principal.user_id,
        body=body.body,
        internal=body.internal,
    )


@router.post("/{ticket_id}/resolve", response_model=TicketRead)
async def resolve_ticket(
    ticket_id: PathId, body: TicketResolve, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    ticket = await service.get_for_update(session, org_id=principal.org_id, ticket_id=ticket_id)
    return await service.resolve(session, ticket=ticket, resolution=body.resolution)


@router.post("/{ticket_id}/reopen", response_model=TicketRead)
async def reopen_ticket(ticket_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    ticket = await service.get_for_update(session, org_id=principal.org_id, ticket_id=ticket_id)
    return await service.reopen(session, ticket=ticket)


@router.post("/{ticket_id}/close", response_model=TicketRead)
async def close_ticket(ticket_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.ENGAGEMENT_WRITE)
    ticket = await service.get_for_update(session, org_id=principal.org_id, ticket_id=ticket_id)
    return await service.close(session, ticket=ticket)


@router.post("/{ticket_id}/satisfaction", response_model=TicketRead)
async def rate_ticket(
    ticket_id: PathId, body: SatisfactionCreate, principal: CurrentPrincipal, session: DbSession
) -> Any:
    """Record the customer's rating (1-5) and comment, once the ticket is resolved."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    ticket = await service.get_for_update(session, org_id=principal.org_id, ticket_id=ticket_id)
    return await service.rate(session, ticket=ticket, data=body)
