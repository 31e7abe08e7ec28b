"""Identity API: me, the organization, users and the audit log. Login sessions,
API keys, agent sessions and members have routers of their own.

``/v1/me`` changes (profile, settings, password) need a login session: an API key
or agent session acts for a person but is not them. A key may change its
creator's profile only through ``PATCH /v1/users/{id}``, which needs ``users:write``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import (
    Client,
    CurrentPrincipal,
    PrincipalKind,
)
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppDatabase, AppSettings
from commbase.core.errors import PermissionDenied
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.identity import account_types, audit, service
from commbase.identity.enums import UserStatus
from commbase.identity.members.schemas import MemberRead
from commbase.identity.models import User
from commbase.identity.roles import may_assign
from commbase.identity.schemas import (
    AuditEntryRead,
    MeRead,
    OrganizationRead,
    OrganizationUpdate,
    PasswordChange,
    PrincipalRead,
    UserAdminUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from commbase.identity.sessions import service as sessions
from commbase.identity.sessions.limits import count_password_attempt
from commbase.settings import Settings

router = APIRouter(prefix="/v1")

# -------------------------------------------------------------------- me


async def _me(session: AsyncSession, principal: CurrentPrincipal, settings: Settings) -> MeRead:
    user: User | None = None
    if principal.user_id:  # the organization and the member in one statement
        org, user = await service.get_organization_and_member(
            session, org_id=principal.org_id, user_id=principal.user_id
        )
    else:
        org = await service.get_organization(session, org_id=principal.org_id)
    return MeRead(
        principal=PrincipalRead.of(principal),
        user=UserRead.model_validate(user) if user else None,
        role=principal.role,
        organization=await account_types.organization_read(session, settings=settings, org=org),
    )


@router.get("/me", response_model=MeRead, tags=["me"], summary="Who is calling")
async def get_me(request: Request, principal: CurrentPrincipal, session: DbSession) -> Response:
    # Built and checked as MeRead once, then sent as is: no second validation of
    # the whole answer against the response model (the busiest authenticated read).
    # The settings are read from the app, not solved as one more dependency.
    me = await _me(session, principal, request.app.state.settings)
    return Response(me.model_dump_json(), media_type="application/json")


def _signed_in_user(principal: CurrentPrincipal) -> str:
    """The user of a login session; API keys and agent sessions are refused."""
    if principal.kind != PrincipalKind.USER_SESSION or principal.user_id is None:
        raise PermissionDenied(
            "Personal settings and passwords need a login session, not an API key or agent session"
        )
    return principal.user_id


@router.patch(
    "/me",
    response_model=MeRead,
    tags=["me"],
    summary="Update my profile (needs a login session)",
)
async def update_me(
    body: UserUpdate, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> MeRead:
    user = await service.get_member_user(
        session, org_id=principal.org_id, user_id=_signed_in_user(principal)
    )
    service.apply_user_update(user, body)
    await session.flush()
    return await _me(session, principal, settings)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["me"],
    summary="Change my password (needs a login session); signs out my other sessions",
)
async def change_my_password(
    body: PasswordChange,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
    settings: AppSettings,
    cache: AppCache,
    client: Client,
) -> None:
    """Every attempt counts in the sign-in limits (per email and per IP); a wrong
    current password is refused with 401 and recorded in the audit log."""
    user = await service.get_member_user(
        session, org_id=principal.org_id, user_id=_signed_in_user(principal)
    )
    await count_password_attempt(request, settings=settings, email=user.email, ip=client.ip)
    async with audit.refusals_recorded(session, database, actor=principal, client=client):
        await sessions.change_password(
            session,
            user=user,
            current_password=body.current_password,
            new_password=body.new_password,
            keep_session_id=principal.credential_id,
            cache=cache,
            org_id=principal.org_id,
            actor=principal,
            client=client,
        )


# ---------------------------------------------------------- organization


@router.get("/organizations/current", response_model=OrganizationRead, tags=["organizations"])
async def get_current_organization(
    principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> Any:
    principal.require(Scope.ORG_READ)
    org = await service.get_organization(session, org_id=principal.org_id)
    return await account_types.organization_read(session, settings=settings, org=org)


@router.patch("/organizations/current", response_model=OrganizationRead, tags=["organizations"])
async def update_current_organization(
    body: OrganizationUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    client: Client,
    settings: AppSettings,
) -> Any:
    principal.require(Scope.ORG_WRITE)
    org = await service.get_organization(session, org_id=principal.org_id)
    org = await service.update_organization(
        session, org=org, changes=body, actor=principal, client=client
    )
    return await account_types.organization_read(session, settings=settings, org=org)


# ----------------------------------------------------------------- users


@router.get("/users", response_model=Page[UserRead], tags=["users"])
async def list_users(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[UserStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Name or email contains")] = None,
) -> Any:
    principal.require(Scope.USERS_READ)
    rows, cursor = await service.list_users(
        session, org_id=principal.org_id, params=page, status=status_, search=q
    )
    return Page(data=[UserRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/users",
    response_model=MemberRead,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    summary="Invite a person by email; they join when they sign in to the organization",
)
async def create_user(
    body: UserCreate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> MemberRead:
    """The answer is the same whether or not the email already has an account: a
    membership with status ``invited`` showing only what was submitted. The
    password (optional) becomes the password of a new account only; an existing
    account keeps its own. Adding an email already a member here is a 409."""
    principal.require(Scope.USERS_WRITE, Scope.MEMBERS_WRITE)
    if not may_assign(principal.role, current=None, new=body.role.value):
        raise PermissionDenied(f"A {principal.role or 'credential'} cannot add a {body.role}")
    member = await service.invite_member(
        session, org_id=principal.org_id, data=body, actor=principal, client=client
    )
    return MemberRead.of(member, None)


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
async def get_user(user_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.USERS_READ)
    return await service.get_member_user(session, org_id=principal.org_id, user_id=user_id)


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
async def update_user(
    user_id: PathId,
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
