"""Sign-up: a person opens an organization and becomes its owner; the email is
verified by an emailed link before the organization may spend or send.

The answer to a sign-up never says whether the email has an account: an email
that has one gets a "you already have an account" message instead of a new
organization, and the request costs the same password hash either way.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import PermissionDenied
from commbase.core.http import ClientInfo
from commbase.core.time import utcnow
from commbase.identity import audit, service
from commbase.identity.accounts import service as account_tokens
from commbase.identity.accounts.enums import AccountEmail, TokenPurpose
from commbase.identity.accounts.models import Signup
from commbase.identity.enums import (
    AccountType,
    ActorType,
    AuditTarget,
    MembershipStatus,
    UserStatus,
)
from commbase.identity.members.models import Membership
from commbase.identity.models import User
from commbase.identity.passwords import hash_password
from commbase.identity.roles import Role
from commbase.identity.signup.schemas import SignupRequest
from commbase.settings import Settings

USER_AGENT_MAX = 512


class SignupClosed(PermissionDenied):
    """Sign-up is not open on this deployment."""


class EmailNotVerified(PermissionDenied):
    """The organization's owner has not verified their email yet."""

    def __init__(self) -> None:
        super().__init__(
            "Verify your email first: until then the organization cannot spend money "
            "or send messages (POST /v1/auth/verify-email/resend sends a new link)"
        )


def registration_metadata(client: ClientInfo) -> dict[str, str | None]:
    """The seed's registration fields; the country only from a trusted proxy's header."""
    return {
        "registration_ip": client.ip,
        "user_agent": (client.user_agent or "")[:USER_AGENT_MAX] or None,
        "country": client.country,
    }


async def _new_user(
    session: AsyncSession,
    *,
    data: SignupRequest,
    email: str,
    password_hash: str,
    client: ClientInfo,
) -> User | None:
    """The new account, or None when the email has one (a concurrent sign-up too)."""
    if await service.find_user_by_email(session, email=email) is not None:
        return None
    user = User(
        email=email,
        first_name=data.first_name,
        last_name=data.last_name,
        name=service.display_name(data.first_name, data.last_name, email),
        password_hash=password_hash,
        source=data.source,
        status=UserStatus.ACTIVE,
        metadata_=registration_metadata(client),
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        return None
    return user


async def sign_up(
    session: AsyncSession, *, data: SignupRequest, client: ClientInfo, settings: Settings
) -> None:
    """Open an organization owned by a new account and email a verification link;
    for an email that has an account, email it a notice instead."""
    if settings.signup_mode != "open":
        raise SignupClosed(
            "Sign-up is by invitation only"
            if settings.signup_mode == "invite_only"
            else "Sign-up is closed on this deployment"
        )
    email = service.normalize_email(data.email)
    password_hash = hash_password(data.password)  # paid on both paths: equal timing
    user = await _new_user(
        session, data=data, email=email, password_hash=password_hash, client=client
    )
    if user is None:
        existing = await service.find_user_by_email(session, email=email)
        if existing is not None and existing.status == UserStatus.ACTIVE:
            await account_tokens.request_email(
                session, kind=AccountEmail.ACCOUNT_EXISTS, user_id=existing.id, token_id=None
            )
        return
    org = await service.create_organization(
        session, name=data.organization_name, account_type=AccountType.FREE
    )
    session.add(
        Membership(org_id=org.id, user_id=user.id, role=Role.OWNER, status=MembershipStatus.ACTIVE)
    )
    session.add(Signup(org_id=org.id, user_id=user.id, source=data.source))
    await session.flush()
    await send_verification(session, user=user, org_id=org.id, settings=settings)
    await audit.record(
        session,
        org_id=org.id,
        action="account.signed_up",
        actor_type=ActorType.USER,
        actor_id=user.id,
        target_type=AuditTarget.USER,
        target_id=user.id,
        client=client,
        details={"source": data.source},
    )


async def send_verification(
    session: AsyncSession, *, user: User, org_id: str, settings: Settings
) -> None:
    """Issue a verification link (the earlier ones stop working) and email it."""
    issued = await account_tokens.issue(
        session,
        purpose=TokenPurpose.VERIFY_EMAIL,
        user_id=user.id,
        org_id=org_id,
        ttl_s=settings.email_verification_ttl_s,
        secret=settings.secret_key.get_secret_value(),
    )
    await account_tokens.request_email(
        session, kind=AccountEmail.VERIFY_EMAIL, user_id=user.id, token_id=issued.row.id
    )


async def resend_verification(
    session: AsyncSession, *, user_id: str, org_id: str, settings: Settings
) -> bool:
    """Email a new link if the user's sign-up here is unverified; returns whether one went."""
    signup = await session.scalar(
        select(Signup).where(
            Signup.org_id == org_id, Signup.user_id == user_id, Signup.verified_at.is_(None)
        )
    )
    user = await service.find_user(session, user_id=user_id)
    if signup is None or user is None:
        return False
    await send_verification(session, user=user, org_id=org_id, settings=settings)
    return True


async def mark_email_verified(session: AsyncSession, *, user: User) -> None:
    """The person proved they read this email: their sign-ups may spend and send."""
    user.email_verified = True
    await session.execute(
        update(Signup)
        .where(Signup.user_id == user.id, Signup.verified_at.is_(None))
        .values(verified_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def verify_email(
    session: AsyncSession, *, token: str, client: ClientInfo, settings: Settings
) -> User:
    """Use a verification link: the account's email is verified."""
    row = await account_tokens.consume(
        session,
        token=token,
        purpose=TokenPurpose.VERIFY_EMAIL,
        secret=settings.secret_key.get_secret_value(),
    )
    user = await service.find_user(session, user_id=row.user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        raise account_tokens.TokenRefused()
    await mark_email_verified(session, user=user)
    if row.org_id is not None:
        await audit.record(
            session,
            org_id=row.org_id,
            action="account.email_verified",
            actor_type=ActorType.USER,
            actor_id=user.id,
            target_type=AuditTarget.USER,
            target_id=user.id,
            client=client,
        )
    await session.flush()
    return user


async def require_verified(session: AsyncSession, *, org_id: str) -> None:
    """Raise ``EmailNotVerified`` if the organization was opened by sign-up and its
    owner has not verified their email. Called before spending money or sending
    messages; organizations the operator created are not affected."""
    pending = await session.scalar(
        select(Signup.id).where(Signup.org_id == org_id, Signup.verified_at.is_(None))
    )
    if pending is not None:
        raise EmailNotVerified()
