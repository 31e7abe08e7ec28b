"""Set up, activate and turn off two-factor sign-in; an owner's requirement."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from commbase.core.auth import AnonymousRateLimit, Client, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import NO_STORE
from commbase.identity.sessions.limits import count_password_attempt
from commbase.identity.two_factor import service as two_factor
from commbase.identity.two_factor.schemas import (
    RecoveryCodes,
    TwoFactorCode,
    TwoFactorCredentials,
    TwoFactorPolicyRead,
    TwoFactorPolicyUpdate,
    TwoFactorSetup,
)

router = APIRouter(prefix="/v1", tags=["two-factor"])


@router.post(
    "/auth/two-factor/setup",
    response_model=TwoFactorSetup,
    dependencies=[AnonymousRateLimit],
    summary="Start two-factor sign-in: a TOTP secret for an authenticator app",
)
async def set_up(
    body: TwoFactorCredentials,
    request: Request,
    response: Response,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> TwoFactorSetup:
    """Authenticated by the account's password (counted with the sign-in attempts),
    so a member of an organization that requires two factors can enrol first."""
    await count_password_attempt(request, settings=settings, email=body.email, ip=client.ip)
    secret, url = await two_factor.setup(
        session,
        email=body.email,
        password=body.password,
        secret=settings.secret_key.get_secret_value(),
    )
    response.headers.update(NO_STORE)
    return TwoFactorSetup(secret=secret, otpauth_url=url)


@router.post(
    "/auth/two-factor/activate",
    response_model=RecoveryCodes,
    dependencies=[AnonymousRateLimit],
    summary="Turn two-factor sign-in on with a first code; returns recovery codes once",
)
async def activate(
    body: TwoFactorCode,
    request: Request,
    response: Response,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> RecoveryCodes:
    await count_password_attempt(request, settings=settings, email=body.email, ip=client.ip)
    codes = await two_factor.activate(
        session,
        email=body.email,
        password=body.password,
        code=body.code,
        secret=settings.secret_key.get_secret_value(),
        client=client,
    )
    response.headers.update(NO_STORE)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/auth/two-factor/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AnonymousRateLimit],
    summary="Turn two-factor sign-in off with the password and a current or recovery code",
)
async def disable(
    body: TwoFactorCode,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> None:
    await count_password_attempt(request, settings=settings, email=body.email, ip=client.ip)
    await two_factor.disable(
        session,
        email=body.email,
        password=body.password,
        code=body.code,
        secret=settings.secret_key.get_secret_value(),
        client=client,
    )


@router.get("/organizations/current/two-factor", response_model=TwoFactorPolicyRead)
async def get_policy(principal: CurrentPrincipal, session: DbSession) -> TwoFactorPolicyRead:
    required = await two_factor.is_required(session, org_id=principal.org_id)
    return TwoFactorPolicyRead(required=required)


@router.put("/organizations/current/two-factor", response_model=TwoFactorPolicyRead)
async def put_policy(
    body: TwoFactorPolicyUpdate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> TwoFactorPolicyRead:
    """Owners only: when required, members without a second factor cannot sign in
    to the organization until they set one up."""
    required = await two_factor.set_required(
        session, org_id=principal.org_id, required=body.required, actor=principal, client=client
    )
    return TwoFactorPolicyRead(required=required)
