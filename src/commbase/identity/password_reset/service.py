"""Password reset: a single-use, expiring link by email; the new password ends
every session of the account.

Asking for a reset answers the same for every email; only an active account gets
a message.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.cache import Cache
from commbase.core.http import ClientInfo
from commbase.identity import audit, service
from commbase.identity.accounts import service as account_tokens
from commbase.identity.accounts.enums import AccountEmail, TokenPurpose
from commbase.identity.authentication import forget_user_credentials
from commbase.identity.enums import ActorType, AuditTarget, MembershipStatus, UserStatus
from commbase.identity.members.models import Membership
from commbase.identity.passwords import hash_password
from commbase.identity.sessions import service as sessions
from commbase.identity.signup.service import mark_email_verified
from commbase.settings import Settings


async def _audit_everywhere(
    session: AsyncSession,
    *,
    user_id: str,
    action: str,
    client: ClientInfo,
    details: dict[str, int] | None = None,
) -> None:
    """One entry in each organization where the user is an active member."""
    org_ids = await session.scalars(
        select(Membership.org_id).where(
            Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE
        )
    )
    for org_id in list(org_ids):
        await audit.record(
            session,
            org_id=org_id,
            action=action,
            actor_type=ActorType.USER,
            actor_id=user_id,
            target_type=AuditTarget.USER,
            target_id=user_id,
            client=client,
            details=details,
        )


async def request_reset(
    session: AsyncSession, *, email: str, client: ClientInfo, settings: Settings
) -> None:
    """Email a reset link to the account with ``email``, if there is an active one."""
    user = await service.find_user_by_email(session, email=email)
    if user is None or user.status != UserStatus.ACTIVE:
        return
    issued = await account_tokens.issue(
        session,
        purpose=TokenPurpose.PASSWORD_RESET,
        user_id=user.id,
        ttl_s=settings.password_reset_ttl_s,
        secret=settings.secret_key.get_secret_value(),
    )
    await account_tokens.request_email(
        session, kind=AccountEmail.PASSWORD_RESET, user_id=user.id, token_id=issued.row.id
    )
    await _audit_everywhere(
        session, user_id=user.id, action="auth.password_reset_requested", client=client
    )


async def reset_password(
    session: AsyncSession,
    *,
    token: str,
    password: str,
    client: ClientInfo,
    settings: Settings,
    cache: Cache,
) -> int:
    """Set the new password from a reset link; every session of the account ends
    (in every organization) and its cached credentials are dropped. Returns how
    many sessions ended."""
    row = await account_tokens.consume(
        session,
        token=token,
        purpose=TokenPurpose.PASSWORD_RESET,
        secret=settings.secret_key.get_secret_value(),
    )
    user = await service.find_user(session, user_id=row.user_id)
    if user is None or user.status != UserStatus.ACTIVE:
        raise account_tokens.TokenRefused()
    user.password_hash = hash_password(password)
    await mark_email_verified(session, user=user)
    ended = await sessions.revoke_other_sessions(
        session, user_id=user.id, keep_session_id=None, cache=cache, org_id=None
    )
    await forget_user_credentials(session, cache=cache, user_id=user.id)
    await _audit_everywhere(
        session,
        user_id=user.id,
        action="user.password_reset",
        client=client,
        details={"sessions_revoked": ended},
    )
    await session.flush()
    return ended
