"""Ask for a password reset link; set a new password with it."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from commbase.core.auth import AnonymousRateLimit, Client
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppSettings
from commbase.identity.accounts.limits import count_account_email, count_token_attempt
from commbase.identity.password_reset import service as password_reset
from commbase.identity.password_reset.schemas import (
    PasswordResetConfirm,
    PasswordResetDone,
    PasswordResetRequest,
)
from commbase.identity.signup.schemas import EmailSent

router = APIRouter(prefix="/v1/auth/password-reset", tags=["accounts"])


@router.post(
    "",
    response_model=EmailSent,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[AnonymousRateLimit],
    summary="Email a password reset link (the answer is the same for every email)",
)
async def request_reset(
    body: PasswordResetRequest,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> EmailSent:
    await count_account_email(request, settings=settings, email=body.email, ip=client.ip)
    await password_reset.request_reset(session, email=body.email, client=client, settings=settings)
    return EmailSent(detail="If an account has this email, a reset link is on its way to it")


@router.post(
    "/confirm",
    response_model=PasswordResetDone,
    dependencies=[AnonymousRateLimit],
    summary="Set a new password with a reset link's token; every session of the account ends",
)
async def confirm_reset(
    body: PasswordResetConfirm,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    cache: AppCache,
    client: Client,
) -> PasswordResetDone:
    await count_token_attempt(request, settings=settings, ip=client.ip)
    ended = await password_reset.reset_password(
        session,
        token=body.token,
        password=body.password,
        client=client,
        settings=settings,
        cache=cache,
    )
    return PasswordResetDone(sessions_revoked=ended)
