"""Invitations by email.

An admin invites an email with a role: the membership starts ``invited`` (as with
``POST /v1/users``) and a single-use, expiring link is emailed. Whoever opens it
joins: a new account sets its password; an existing account (a member of other
organizations) confirms with its own password and joins this organization as a
second one. Accepting signs the person in to the inviting organization; later
sign-ins choose it with ``organization`` (otherwise the oldest membership).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import Principal
from commbase.core.errors import InvalidCredentials, PermissionDenied, invalid
from commbase.core.http import ClientInfo
from commbase.identity import audit, service
from commbase.identity.accounts import service as account_tokens
from commbase.identity.accounts.enums import AccountEmail, TokenPurpose
from commbase.identity.enums import ActorType, AuditTarget, MembershipStatus, UserStatus
from commbase.identity.invitations.schemas import InvitationAccept, InvitationCreate
from commbase.identity.members.models import Membership
from commbase.identity.passwords import MIN_LENGTH, hash_password, verify_password
from commbase.identity.roles import may_assign
from commbase.identity.schemas import UserCreate
from commbase.identity.sessions import service as sessions
from commbase.identity.signup.service import mark_email_verified
from commbase.settings import Settings


async def invite(
    session: AsyncSession,
    *,
    org_id: str,
    data: InvitationCreate,
    actor: Principal,
    client: ClientInfo,
    settings: Settings,
) -> Membership:
    """Add an invited membership and email its link; the answer does not depend on
    whether the email has an account."""
    if not may_assign(actor.role, current=None, new=data.role.value):
        raise PermissionDenied(f"A {actor.role or 'credential'} cannot invite a {data.role}")
    member = await service.invite_member(
        session,
        org_id=org_id,
        data=UserCreate(
            email=data.email, role=data.role, first_name=data.first_name, last_name=data.last_name
        ),
        actor=actor,
        client=client,
    )
    issued = await account_tokens.issue(
        session,
        purpose=TokenPurpose.INVITATION,
        user_id=member.user_id,
        org_id=org_id,
        membership_id=member.id,
        ttl_s=settings.invitation_ttl_s,
        secret=settings.secret_key.get_secret_value(),
    )
    await account_tokens.request_email(
        session, kind=AccountEmail.INVITATION, user_id=member.user_id, token_id=issued.row.id
    )
    return member


async def accept(
    session: AsyncSession, *, data: InvitationAccept, client: ClientInfo, settings: Settings
) -> sessions.SignedIn:
    """Use an invitation link: join the organization and sign in to it."""
    secret = settings.secret_key.get_secret_value()
    row = await account_tokens.consume(
        session, token=data.token, purpose=TokenPurpose.INVITATION, secret=secret
    )
    member = await session.get(Membership, row.membership_id) if row.membership_id else None
    user = await service.find_user(session, user_id=row.user_id)
    if (
        member is None
        or user is None
        or member.status != MembershipStatus.INVITED
        or user.status != UserStatus.ACTIVE
    ):
        raise account_tokens.TokenRefused()
    if user.password_hash is None:
        if settings.signup_mode == "closed":
            raise PermissionDenied("New accounts are closed on this deployment")
        if len(data.password) < MIN_LENGTH:
            raise invalid(f"at least {MIN_LENGTH} characters", "password")
        user.password_hash = hash_password(data.password)
        if data.first_name is not None or data.last_name is not None:
            user.first_name = data.first_name or user.first_name
            user.last_name = data.last_name or user.last_name
            user.name = service.display_name(user.first_name, user.last_name, user.email)
    elif not verify_password(data.password, user.password_hash):
        raise InvalidCredentials("The password is wrong")
    await mark_email_verified(session, user=user)
    member.status = MembershipStatus.ACTIVE
    member.invitation = None
    await audit.record(
        session,
        org_id=member.org_id,
        action="member.joined",
        actor_type=ActorType.USER,
        actor_id=user.id,
        target_type=AuditTarget.USER,
        target_id=user.id,
        client=client,
        details={"role": member.role, "by": "invitation_link"},
    )
    await session.flush()
    return await sessions.login(
        session,
        email=user.email,
        password=data.password,
        organization=member.org_id,
        two_factor_code=data.two_factor_code,
        client=client,
        secret=secret,
        ttl_s=settings.login_session_ttl_s,
    )
