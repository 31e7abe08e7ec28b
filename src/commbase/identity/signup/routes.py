"""Sign up, verify the email, ask for a new verification link."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from commbase.core.auth import AnonymousRateLimit, Client, CurrentPrincipal, PrincipalKind
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.errors import PermissionDenied
from commbase.identity.accounts.limits import count_account_email, count_token_attempt
from commbase.identity.signup import service as signup
from commbase.identity.signup.schemas import (
    EmailSent,
    EmailVerified,
    SignupRequest,
    VerifyEmailRequest,
)

router = APIRouter(prefix="/v1/auth", tags=["accounts"])

CHECK_EMAIL = "If sign-up is possible with this email, a message is on its way to it"


@router.post(
    "/signup",
    response_model=EmailSent,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[AnonymousRateLimit],
    summary="Open an organization and become its owner; a verification link is emailed",
)
async def sign_up(
    body: SignupRequest,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> EmailSent:
    """The answer is the same whether or not the email has an account (one that has
    gets a notice by email instead). 403 when ``COMMBASE_SIGNUP_MODE`` is not ``open``."""
    await count_account_email(request, settings=settings, email=body.email, ip=client.ip)
    await signup.sign_up(session, data=body, client=client, settings=settings)
    return EmailSent(detail=CHECK_EMAIL)


@router.post(
    "/verify-email",
    response_model=EmailVerified,
    dependencies=[AnonymousRateLimit],
    summary="Verify an email with the emailed link's token (single use)",
)
async def verify_email(
    body: VerifyEmailRequest,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> EmailVerified:
    await count_token_attempt(request, settings=settings, ip=client.ip)
    user = await signup.verify_email(session, token=body.token, client=client, settings=settings)
    return EmailVerified(email=user.email)


@router.post(
    "/verify-email/resend",
    response_model=EmailSent,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Email a new verification link for the organization signed in to",
)
async def resend_verification(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> EmailSent:
    if principal.kind != PrincipalKind.USER_SESSION or principal.user_id is None:
        raise PermissionDenied("A new verification link needs a login session")
    await count_account_email(request, settings=settings, email=principal.user_id, ip=client.ip)
    sent = await signup.resend_verification(
        session, user_id=principal.user_id, org_id=principal.org_id, settings=settings
    )
    return EmailSent(
        detail="A new link is on its way" if sent else "Nothing to verify: the email is verified"
    )
