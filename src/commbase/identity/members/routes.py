"""Members of the organization: list, get, change role, remove."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from commbase.core.auth import (
    Client,
    CurrentPrincipal,
)
from commbase.core.db import DbSession
from commbase.core.deps import AppCache
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.identity.enums import MembershipStatus
from commbase.identity.members import service as members_service
from commbase.identity.members.schemas import MemberRead, MemberUpdate
from commbase.identity.roles import Role

router = APIRouter(prefix="/v1")

# --------------------------------------------------------------- members


@router.get("/members", response_model=Page[MemberRead], tags=["members"])
async def list_members(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    role: Annotated[Role | None, Query()] = None,
    status_: Annotated[MembershipStatus | None, Query(alias="status")] = None,
) -> Any:
    principal.require(Scope.MEMBERS_READ)
    rows, cursor = await members_service.list_members(
        session, org_id=principal.org_id, params=page, role=role, status=status_
    )
    return Page(data=[MemberRead.of(m, u) for m, u in rows], next_cursor=cursor)


@router.get("/members/{member_id}", response_model=MemberRead, tags=["members"])
async def get_member(member_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.MEMBERS_READ)
    member = await members_service.get_member(session, org_id=principal.org_id, member_id=member_id)
    user = await members_service.account_of(session, member=member)
    return MemberRead.of(member, user)


@router.patch("/members/{member_id}", response_model=MemberRead, tags=["members"])
async def change_member_role(
    member_id: PathId,
    body: MemberUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> Any:
    principal.require(Scope.MEMBERS_WRITE)
    member = await members_service.get_member(session, org_id=principal.org_id, member_id=member_id)
    await members_service.change_role(
        session, member=member, role=body.role, actor=principal, client=client, cache=cache
    )
    user = await members_service.account_of(session, member=member)
    return MemberRead.of(member, user)


@router.delete("/members/{member_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["members"])
async def remove_member(
    member_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> None:
    principal.require(Scope.MEMBERS_WRITE)
    member = await members_service.get_member(session, org_id=principal.org_id, member_id=member_id)
    await members_service.remove_member(
        session, member=member, actor=principal, client=client, cache=cache
    )
