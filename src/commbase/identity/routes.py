"""Identity API: auth, me, organization, users, members, sessions, API keys,
agent sessions and the audit log. Thin: parse, authorize, call the service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import (
    AnonymousRateLimit,
    Client,
    CurrentPrincipal,
    PrincipalKind,
    enforce_rate_limit,
)
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppDatabase, AppSettings
from commbase.core.errors import AlreadyExists, InvalidRequest, PermissionDenied
from commbase.core.http import NO_STORE, shown_once
from commbase.core.pagination import Page, PageQuery
from commbase.core.ratelimit import RateLimitRule
from commbase.core.scopes import Scope
from commbase.identity import agent_sessions, api_keys, audit, service, sessions
from commbase.identity.models import Membership, User
from commbase.identity.roles import may_assign
from commbase.identity.schemas import (
    AgentSessionCreate,
    AgentSessionRead,
    AgentSessionWithToken,
    ApiKeyCreate,
    ApiKeyRead,
    ApiKeyRotate,
    ApiKeyUpdate,
    ApiKeyWithSecret,
    AuditEntryRead,
    LoginRequest,
    LoginResponse,
    MemberRead,
    MemberUpdate,
    MeRead,
    OrganizationRead,
    OrganizationUpdate,
    PasswordChange,
    SessionRead,
    UserAdminUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter(prefix="/v1")
Id = Annotated[str, Path(max_length=40)]


def _member_read(member: Membership, user: User) -> MemberRead:
    return MemberRead(
        id=member.id,
        user=UserRead.model_validate(user),
        role=member.role,
        created_at=member.created_at,
    )


# ------------------------------------------------------------------------- auth


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    tags=["auth"],
    dependencies=[AnonymousRateLimit],
    summary="Sign in with email and password; returns a session token",
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: DbSession,
    database: AppDatabase,
    settings: AppSettings,
    client: Client,
) -> LoginResponse:
    window = 15 * 60
    await enforce_rate_limit(
        request,
        key=f"email:{service.normalize_email(body.email)}",
        rule=RateLimitRule("login-email", settings.login_email_limit, window),
    )
    await enforce_rate_limit(
        request,
        key=f"ip:{client.ip}",
        rule=RateLimitRule("login-ip", settings.login_ip_limit, window),
    )
    try:
        signed = await sessions.login(
            session,
            email=body.email,
            password=body.password,
            organization=body.organization,
            client=client,
            secret=settings.secret_key.get_secret_value(),
            ttl_s=settings.login_session_ttl_s,
        )
    except sessions.LoginRefused as refusal:
        await session.rollback()
        await sessions.record_refusal(database, refusal, client)
        raise
    response.headers.update(NO_STORE)
    return LoginResponse(
        token=signed.token,
        expires_at=signed.login.expires_at,
        session=SessionRead.model_validate(signed.login).model_copy(update={"current": True}),
        user=UserRead.model_validate(signed.user),
        organization=OrganizationRead.model_validate(signed.organization),
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    summary="Sign out the current login session",
)
async def logout(
    principal: CurrentPrincipal, session: DbSession, cache: AppCache, client: Client
) -> None:
    if principal.kind != PrincipalKind.USER_SESSION or principal.user_id is None:
        raise InvalidRequest("Logout ends a login session; revoke API keys at /v1/api-keys")
    current = await sessions.get_session(
        session,
        org_id=principal.org_id,
        user_id=principal.user_id,
        session_id=principal.credential_id,
    )
    await sessions.revoke(
        session,
        login_session=current,
        cache=cache,
        actor=principal,
        client=client,
        action="auth.logout",
    )


# ----------------------------------------------------------------------- me


async def _me(session: AsyncSession, principal: CurrentPrincipal) -> MeRead:
    org = await service.get_organization(session, org_id=principal.org_id)
    user = (
        await service.get_member_user(session, org_id=principal.org_id, user_id=principal.user_id)
        if principal.user_id
        else None
    )
    return MeRead(
        principal={
            "kind": principal.kind.value,
            "id": principal.credential_id,
            "scopes": sorted(s.value for s in principal.scopes),
            **principal.extra,
        },
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


# ----------------------------------------------------------------- organization


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


# ------------------------------------------------------------------------ users


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
    return _member_read(member, user)


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


# ---------------------------------------------------------------------- members


@router.get("/members", response_model=Page[MemberRead], tags=["members"])
async def list_members(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    role: Annotated[Literal["owner", "admin", "agent", "viewer"] | None, Query()] = None,
) -> Any:
    principal.require(Scope.MEMBERS_READ)
    rows, cursor = await service.list_members(
        session, org_id=principal.org_id, params=page, role=role
    )
    return Page(data=[_member_read(m, u) for m, u in rows], next_cursor=cursor)


@router.get("/members/{member_id}", response_model=MemberRead, tags=["members"])
async def get_member(member_id: Id, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.MEMBERS_READ)
    member = await service.get_member(session, org_id=principal.org_id, member_id=member_id)
    user = await service.get_member_user(session, org_id=principal.org_id, user_id=member.user_id)
    return _member_read(member, user)


@router.patch("/members/{member_id}", response_model=MemberRead, tags=["members"])
async def change_member_role(
    member_id: Id,
    body: MemberUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> Any:
    principal.require(Scope.MEMBERS_WRITE)
    member = await service.get_member(session, org_id=principal.org_id, member_id=member_id)
    await service.change_role(
        session, member=member, role=body.role, actor=principal, client=client, cache=cache
    )
    user = await service.get_member_user(session, org_id=principal.org_id, user_id=member.user_id)
    return _member_read(member, user)


@router.delete("/members/{member_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["members"])
async def remove_member(
    member_id: Id,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> None:
    principal.require(Scope.MEMBERS_WRITE)
    member = await service.get_member(session, org_id=principal.org_id, member_id=member_id)
    await service.remove_member(session, member=member, actor=principal, client=client, cache=cache)


# --------------------------------------------------------------------- sessions


def _session_user(principal: CurrentPrincipal) -> str:
    if principal.kind != PrincipalKind.USER_SESSION or principal.user_id is None:
        raise PermissionDenied("Session management needs a login session, not an API key")
    return principal.user_id


@router.get("/sessions", response_model=Page[SessionRead], tags=["sessions"])
async def list_my_sessions(principal: CurrentPrincipal, session: DbSession, page: PageQuery) -> Any:
    user_id = _session_user(principal)
    rows, cursor = await sessions.list_sessions(
        session, org_id=principal.org_id, user_id=user_id, params=page
    )
    data = [
        SessionRead.model_validate(r).model_copy(
            update={"current": r.id == principal.credential_id}
        )
        for r in rows
    ]
    return Page(data=data, next_cursor=cursor)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["sessions"])
async def revoke_my_session(
    session_id: Id,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> None:
    user_id = _session_user(principal)
    target = await sessions.get_session(
        session, org_id=principal.org_id, user_id=user_id, session_id=session_id
    )
    await sessions.revoke(
        session, login_session=target, cache=cache, actor=principal, client=client
    )


@router.post("/sessions/revoke-others", tags=["sessions"])
async def revoke_my_other_sessions(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> dict[str, int]:
    user_id = _session_user(principal)
    count = await sessions.revoke_other_sessions(
        session,
        user_id=user_id,
        keep_session_id=principal.credential_id,
        cache=cache,
        org_id=principal.org_id,
    )
    await audit.record(
        session,
        org_id=principal.org_id,
        action="auth.other_sessions_revoked",
        actor=principal,
        target_type="user",
        target_id=user_id,
        client=client,
        details={"count": count},
    )
    return {"revoked": count}


# --------------------------------------------------------------------- API keys


@router.post(
    "/api-keys",
    response_model=ApiKeyWithSecret,
    status_code=status.HTTP_201_CREATED,
    tags=["api-keys"],
    summary="Create an API key; the secret is in this response only",
)
async def create_api_key(
    body: ApiKeyCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key, secret = await api_keys.create_key(
        session,
        data=body,
        actor=principal,
        client=client,
        secret=settings.secret_key.get_secret_value(),
        tiers=settings.rate_limit_tiers,
    )
    return shown_once(response, ApiKeyWithSecret, ApiKeyRead.model_validate(key), key=secret)


@router.get("/api-keys", response_model=Page[ApiKeyRead], tags=["api-keys"])
async def list_api_keys(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[
        Literal["active", "revoked", "expired"] | None, Query(alias="status")
    ] = None,
) -> Any:
    principal.require(Scope.API_KEYS_READ)
    rows, cursor = await api_keys.list_keys(
        session, org_id=principal.org_id, params=page, status=status_
    )
    return Page(data=[ApiKeyRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api-keys"])
async def get_api_key(key_id: Id, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.API_KEYS_READ)
    return await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)


@router.patch("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api-keys"])
async def update_api_key(
    key_id: Id,
    body: ApiKeyUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)
    return await api_keys.update_key(
        session,
        key=key,
        changes=body,
        actor=principal,
        client=client,
        cache=cache,
        tiers=settings.rate_limit_tiers,
    )


@router.post(
    "/api-keys/{key_id}/rotate",
    response_model=ApiKeyWithSecret,
    tags=["api-keys"],
    summary="Issue a new secret; the old one works until the grace period ends",
)
async def rotate_api_key(
    key_id: Id,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    client: Client,
    body: ApiKeyRotate | None = None,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)
    grace = (
        body.grace_period_s
        if body is not None and body.grace_period_s is not None
        else settings.api_key_rotation_grace_s
    )
    key, secret = await api_keys.rotate_key(
        session,
        key=key,
        grace_period_s=grace,
        actor=principal,
        client=client,
        cache=cache,
        secret=settings.secret_key.get_secret_value(),
    )
    return shown_once(response, ApiKeyWithSecret, ApiKeyRead.model_validate(key), key=secret)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead, tags=["api-keys"])
async def revoke_api_key(
    key_id: Id,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)
    return await api_keys.revoke_key(session, key=key, actor=principal, client=client, cache=cache)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api-keys"])
async def delete_api_key(
    key_id: Id,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> Any:
    """Same as revoke: keys are kept, revoked, for the audit trail."""
    return await revoke_api_key(key_id, principal, session, cache, client)


# --------------------------------------------------------------- agent sessions


@router.post(
    "/agent-sessions",
    response_model=AgentSessionWithToken,
    status_code=status.HTTP_201_CREATED,
    tags=["agent-sessions"],
    summary="Open an agent session; its token is in this response only",
)
async def create_agent_session(
    body: AgentSessionCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> Any:
    principal.require(Scope.AGENT_SESSIONS_WRITE)
    agent, token = await agent_sessions.open_session(
        session,
        data=body,
        actor=principal,
        client=client,
        secret=settings.secret_key.get_secret_value(),
        default_ttl_s=settings.agent_session_ttl_s,
    )
    return shown_once(
        response, AgentSessionWithToken, AgentSessionRead.model_validate(agent), session_token=token
    )


@router.get("/agent-sessions", response_model=Page[AgentSessionRead], tags=["agent-sessions"])
async def list_agent_sessions(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[
        Literal["active", "expired", "terminated"] | None, Query(alias="status")
    ] = None,
    agent_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    principal.require(Scope.AGENT_SESSIONS_READ)
    rows, cursor = await agent_sessions.list_sessions(
        session, org_id=principal.org_id, params=page, status=status_, agent_id=agent_id
    )
    return Page(data=[AgentSessionRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/agent-sessions/{session_id}", response_model=AgentSessionRead, tags=["agent-sessions"]
)
async def get_agent_session(session_id: Id, principal: CurrentPrincipal, session: DbSession) -> Any:
    if not (
        principal.kind == PrincipalKind.AGENT_SESSION and principal.credential_id == session_id
    ):
        principal.require(Scope.AGENT_SESSIONS_READ)
    return await agent_sessions.get_session(session, org_id=principal.org_id, session_id=session_id)


@router.post(
    "/agent-sessions/{session_id}/terminate",
    response_model=AgentSessionRead,
    tags=["agent-sessions"],
)
async def terminate_agent_session(
    session_id: Id,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> Any:
    # An agent may always end its own session.
    if not (
        principal.kind == PrincipalKind.AGENT_SESSION and principal.credential_id == session_id
    ):
        principal.require(Scope.AGENT_SESSIONS_WRITE)
    agent = await agent_sessions.get_session(
        session, org_id=principal.org_id, session_id=session_id
    )
    return await agent_sessions.terminate(
        session, agent=agent, actor=principal, client=client, cache=cache
    )


# ------------------------------------------------------------------------ audit


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
