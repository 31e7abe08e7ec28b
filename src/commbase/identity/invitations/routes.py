"""Invite by email; accept an invitation link."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from commbase.core.auth import AnonymousRateLimit, Client, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import NO_STORE
from commbase.core.scopes import Scope
from commbase.identity import account_types
from commbase.identity.accounts.limits import count_account_email, count_token_attempt
from commbase.identity.invitations import service as invitations
from commbase.identity.invitations.schemas import InvitationAccept, InvitationCreate
from commbase.identity.members.schemas import MemberRead
from commbase.identity.schemas import UserRead
from commbase.identity.sessions.schemas import LoginResponse, SessionRead

router = APIRouter(prefix="/v1", tags=["invitations"])


@router.post(
    "/invitations",
    response_model=MemberRead,
    status_code=status.HTTP_201_CREATED,
    summary="Invite a person by email with a role; a single-use link is emailed to them",
)
async def invite(
    body: InvitationCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> MemberRead:
    """The same answer whether or not the email has an account elsewhere; an email
    already a member (or invited) here is a 409."""
    principal.require(Scope.USERS_WRITE, Scope.MEMBERS_WRITE)
    await count_account_email(request, settings=settings, email=body.email, ip=client.ip)
    member = await invitations.invite(
        session,
        org_id=principal.org_id,
        data=body,
        actor=principal,
        client=client,
        settings=settings,
    )
    return MemberRead.of(member, None)


@router.post(
    "/auth/invitations/accept",
    response_model=LoginResponse,
    dependencies=[AnonymousRateLimit],
    summary="Accept an emailed invitation: join the organization and sign in to it",
)
async def accept_invitation(
    body: InvitationAccept,
    request: Request,
    response: Response,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> LoginResponse:
    """A new account sets ``password``; an existing one confirms with its own."""
    await count_token_attempt(request, settings=settings, ip=client.ip)
    signed = await invitations.accept(session, data=body, client=client, settings=settings)
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
