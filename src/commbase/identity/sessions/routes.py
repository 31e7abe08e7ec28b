"""Sign in and out; list and revoke my login sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from commbase.core.auth import (
    AnonymousRateLimit,
    Client,
    CurrentPrincipal,
    PrincipalKind,
)
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppDatabase, AppSettings
from commbase.core.errors import InvalidRequest, PermissionDenied
from commbase.core.http import NO_STORE
from commbase.core.pagination import Page, PageQuery
from commbase.core.types import PathId
from commbase.identity import account_types, audit
from commbase.identity.enums import AuditTarget
from commbase.identity.schemas import (
    UserRead,
)
from commbase.identity.sessions import service as sessions
from commbase.identity.sessions.limits import count_password_attempt
from commbase.identity.sessions.schemas import (
    LoginRequest,
    LoginResponse,
    SessionRead,
    SessionsRevoked,
)

router = APIRouter(prefix="/v1")

# ------------------------------------------------------------------ auth


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
    await count_password_attempt(request, settings=settings, email=body.email, ip=client.ip)
    try:
        signed = await sessions.login(
            session,
            email=body.email,
            password=body.password,
            organization=body.organization,
            two_factor_code=body.two_factor_code,
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
        organization=await account_types.organization_read(
            session, settings=settings, org=signed.organization
        ),
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


# -------------------------------------------------------------- sessions


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
    session_id: PathId,
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


@router.post("/sessions/revoke-others", response_model=SessionsRevoked, tags=["sessions"])
async def revoke_my_other_sessions(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    client: Client,
) -> SessionsRevoked:
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
        target_type=AuditTarget.USER,
        target_id=user_id,
        client=client,
        details={"count": count},
    )
    return SessionsRevoked(revoked=count)
