"""Identity API: me, the organization, users and the audit log. Login sessions,
API keys, agent sessions and members have routers of their own."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import (
    Client,
    CurrentPrincipal,
    PrincipalKind,
)
from commbase.core.db import DbSession
from commbase.core.deps import AppCache
from commbase.core.errors import AlreadyExists, PermissionDenied
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.identity import audit, service
from commbase.identity.members.schemas import MemberRead
from commbase.identity.roles import may_assign
from commbase.identity.schemas import (
    AuditEntryRead,
    MeRead,
    OrganizationRead,
    OrganizationUpdate,
    PasswordChange,
    UserAdminUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from commbase.identity.sessions import service as sessions

router = APIRouter(prefix="/v1")
Id = Annotated[str, Path(max_length=40)]

# -------------------------------------------------------------------- me


async def _me(session: AsyncSession, principal: CurrentPrincipal) -> MeRead:
    org = await service.get_organization(session, org_id=principal.org_id)
    user = (
        await service.get_member_user(session, org_id=principal.org_id, user_id=principal.user_id)
        if principal.user_id
        else None
    )
    return MeRead(
        principal=principal.describe(),
        user=UserRead.model_validate(user) if user else None,
        role=principal.role,
        organization=OrganizationRead.model_validate(org),
    )


@router.get("/me", response_model=MeRead, tags=["me"], summary="Who is calling")
async def get_me(principal: CurrentPrincipal, session: DbSession) -> MeRead:
    return await _me(session, principal)


def _own_user_id(principal: CurrentPrincipal) -> str:
    if principal.user_id is None or principal.kind == PrincipalKind.AGENT_SESSION:
        raise PermissionDenied("This credential does not act as a user")
    return principal.user_id


@router.patch("/me", response_model=MeRead, tags=["me"], summary="Update my profile")
async def update_me(body: UserUpdate, principal: CurrentPrincipal, session: DbSession) -> MeRead:
    user = await service.get_member_user(
        session, org_id=principal.org_id, user_id=_own_user_id(principal)
    )
    service.apply_user_update(user, body)
    await session.flush()
    return await _me(session, principal)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["me"],
    summary="Change my password; signs out my other sessions",
)
async def change_my_password(
    body: PasswordChange,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> None:
    user = await service.get_member_user(
        session, org_id=principal.org_id, user_id=_own_user_id(principal)
    )
    await sessions.change_password(
        session,
        user=user,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session_id=(
            principal.credential_id if principal.kind == PrincipalKind.USER_SESSION else None
        ),
        cache=cache,
        org_id=principal.org_id,
        actor=principal,
        client=client,
    )


# ---------------------------------------------------------- organization


@router.get("/organizations/current", response_model=OrganizationRead, tags=["organizations"])
async def get_current_organization(principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.ORG_READ)
    return await service.get_organization(session, org_id=principal.org_id)


@router.patch("/organizations/current", response_model=OrganizationRead, tags=["organizations"])
async def update_current_organization(
    body: OrganizationUpdate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> Any:
    principal.require(Scope.ORG_WRITE)
    org = await service.get_organization(session, org_id=principal.org_id)
    return await service.update_organization(
        session, org=org, changes=body, actor=principal, client=client
    )


# ----------------------------------------------------------------- users


@router.get("/users", response_model=Page[UserRead], tags=["users"])
async def list_users(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[
        Literal["active", "suspended", "deleted"] | None, Query(alias="status")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="Name or email contains")] = None,
) -> Any:
    principal.require(Scope.USERS_READ)
    rows, cursor = await service.list_users(
        session, org_id=principal.org_id, params=page, status=status_, search=q
    )
    return Page(data=[UserRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/users", response_model=MemberRead, status_code=status.HTTP_201_CREATED, tags=["users"]
)
async def create_user(
    body: UserCreate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> MemberRead:
    principal.require(Scope.USERS_WRITE, Scope.MEMBERS_WRITE)
    if not may_assign(principal.role, current=None, new=body.role.value):
        raise PermissionDenied(f"A {principal.role or 'credential'} cannot add a {body.role}")
    if await service.find_user_by_email(session, email=body.email) is not None:
        # Adopting an account that exists elsewhere would hand this organization its
        # profile and its status; that needs the person's consent (an invitation).
        raise AlreadyExists(
            "This email already has a commbase account; it cannot be added by email",
            field="email",
        )
    user, member = await service.create_user(session, data=body, org_id=principal.org_id)
    assert member is not None
    await audit.record(
        session,
        org_id=principal.org_id,
        action="member.added",
        actor=principal,
        target_type="user",
        target_id=user.id,
        client=client,
        details={"role": member.role},
    )
    return MemberRead.of(member, user)


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
async def get_user(user_id: Id, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.USERS_READ)
    return await service.get_member_user(session, org_id=principal.org_id, user_id=user_id)


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
async def update_user(
    user_id: Id,
    body: UserAdminUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> Any:
    principal.require(Scope.USERS_WRITE)
    user = await service.get_member_user(session, org_id=principal.org_id, user_id=user_id)
    return await service.update_user(
        session,
        org_id=principal.org_id,
        user=user,
        changes=body,
        actor=principal,
        client=client,
        cache=cache,
    )


# ----------------------------------------------------------------- audit


@router.get("/audit-log", response_model=Page[AuditEntryRead], tags=["audit"])
async def list_audit_log(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    action: Annotated[str | None, Query(max_length=60)] = None,
    actor_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    principal.require(Scope.AUDIT_READ)
    rows, cursor = await audit.list_entries(
        session, org_id=principal.org_id, params=page, action=action, actor_id=actor_id
    )
    return Page(data=[AuditEntryRead.model_validate(r) for r in rows], next_cursor=cursor)
