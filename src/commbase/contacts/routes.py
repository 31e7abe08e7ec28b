"""Contacts API. Thin: parse, authorize, call the service.

An agent session works only with the contacts it created; a user, or a user's
API key, with every contact of the organization.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.contacts import service
from commbase.contacts.enums import OwnerKind
from commbase.contacts.models import Contact
from commbase.contacts.schemas import ContactCreate, ContactRead, ContactStats, ContactUpdate
from commbase.core.auth import CurrentPrincipal, Principal, PrincipalKind
from commbase.core.db import DbSession
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


def _agent_session_of(principal: Principal) -> str | None:
    """The agent session whose contacts alone the caller may touch, if it is one."""
    return principal.credential_id if principal.kind == PrincipalKind.AGENT_SESSION else None


def _contact_read(contact: Contact) -> ContactRead:
    return ContactRead(
        id=contact.id,
        owner_user_id=contact.owner_user_id,
        owner_agent_session_id=contact.owner_agent_session_id,
        owner_kind=OwnerKind.AGENT_SESSION if contact.owner_agent_session_id else OwnerKind.USER,
        name=contact.name,
        phone=contact.phone,
        phone_formatted=contact.phone_formatted,
        labels=contact.labels,
        notes=contact.notes,
        metadata=contact.metadata_,
        attributes=contact.attributes,
        blocked=contact.blocked,
        stats=ContactStats.model_validate(contact),
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


async def _visible_contact(contact_id: str, principal: Principal, session: DbSession) -> Contact:
    return await service.get_contact(
        session,
        org_id=principal.org_id,
        contact_id=contact_id,
        owner_agent_session_id=_agent_session_of(principal),
    )


DUPLICATE_PHONE: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "description": "Another contact of the organization has this phone number "
        "(``contact_id`` names it when the caller may see it)"
    }
}


@router.post(
    "",
    response_model=ContactRead,
    status_code=status.HTTP_201_CREATED,
    responses=DUPLICATE_PHONE,
)
async def create_contact(
    body: ContactCreate, principal: CurrentPrincipal, session: DbSession
) -> ContactRead:
    """Add a contact; one phone number belongs to at most one contact of the organization."""
    principal.require(Scope.CONTACTS_WRITE)
    agent_session_id = _agent_session_of(principal)
    contact = await service.create_contact(
        session,
        org_id=principal.org_id,
        data=body,
        owner_user_id=None if agent_session_id else principal.user_id,
        owner_agent_session_id=agent_session_id,
    )
    return _contact_read(contact)


@router.get("", response_model=Page[ContactRead])
async def list_contacts(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    label: Annotated[str | None, Query(max_length=50)] = None,
    blocked: bool | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Name contains (case and diacritics ignored), or phone digits contain",
        ),
    ] = None,
    owner_user_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    principal.require(Scope.CONTACTS_READ)
    rows, cursor = await service.list_contacts(
        session,
        org_id=principal.org_id,
        params=page,
        label=label,
        blocked=blocked,
        owner_user_id=owner_user_id,
        owner_agent_session_id=_agent_session_of(principal),
        search=q,
    )
    return Page(data=[_contact_read(r) for r in rows], next_cursor=cursor)


@router.get("/{contact_id}", response_model=ContactRead)
async def get_contact(
    contact_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> ContactRead:
    principal.require(Scope.CONTACTS_READ)
    return _contact_read(await _visible_contact(contact_id, principal, session))


@router.patch(
    "/{contact_id}",
    response_model=ContactRead,
    responses=DUPLICATE_PHONE,
)
async def update_contact(
    contact_id: PathId, body: ContactUpdate, principal: CurrentPrincipal, session: DbSession
) -> ContactRead:
    principal.require(Scope.CONTACTS_WRITE)
    contact = await _visible_contact(contact_id, principal, session)
    updated = await service.update_contact(
        session,
        contact=contact,
        changes=body,
        owner_agent_session_id=_agent_session_of(principal),
    )
    return _contact_read(updated)


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(
    contact_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> None:
    principal.require(Scope.CONTACTS_WRITE)
    contact = await _visible_contact(contact_id, principal, session)
    await service.delete_contact(session, contact=contact)
