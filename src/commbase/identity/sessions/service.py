"""Login sessions: sign in, list my devices, sign out one or all others.

Signing in to an organization where the person has an invitation (a membership an
admin added) accepts it: the membership becomes active and the organization sees
the account from then on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import Principal
from commbase.core.cache import Cache
from commbase.core.db import Database
from commbase.core.errors import InvalidCredentials, NotFound
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import audit, service, tokens
from commbase.identity.authentication import forget_after_commit
from commbase.identity.devices import parse_device
from commbase.identity.enums import ActorType, AuditTarget, MembershipStatus, UserStatus
from commbase.identity.members.models import Membership
from commbase.identity.models import Organization, User
from commbase.identity.passwords import hash_password, needs_rehash, verify_password
from commbase.identity.sessions.models import LoginSession
from commbase.identity.two_factor import service as two_factor


@dataclass(frozen=True)
class SignedIn:
    token: str
    login: LoginSession
    user: User
    organization: Organization


class LoginRefused(InvalidCredentials):
    """A failed sign-in, with what the audit log needs to record it."""

    def __init__(self, *, user_id: str | None, org_ids: list[str], reason: str) -> None:
        super().__init__("Email or password is wrong")
        self.user_id = user_id
        self.org_ids = org_ids
        self.reason = reason


async def record_refusal(database: Database, refusal: LoginRefused, client: ClientInfo) -> None:
    """Audit a failed sign-in in its own transaction (the request's rolls back)."""
    for org_id in refusal.org_ids:
        await audit.record_detached(
            database,
            org_id=org_id,
            action="auth.login_failed",
            actor_type=ActorType.USER,
            actor_id=refusal.user_id,
            target_type=AuditTarget.USER,
            target_id=refusal.user_id,
            client=client,
            details={"reason": refusal.reason},
        )


class TwoFactorRefused(LoginRefused):
    """The password was right, the second factor's code wrong (or used before)."""

    def __init__(self, *, user_id: str, org_ids: list[str]) -> None:
        super().__init__(user_id=user_id, org_ids=org_ids, reason="bad_two_factor_code")
        self.detail = "The two-factor code is wrong"
        self.extensions = {"two_factor_required": True}


class WrongPassword(audit.Audited, InvalidCredentials):
    """The current password given to change it was wrong: refused and audited."""

    def __init__(self, *, user_id: str) -> None:
        super().__init__("The current password is wrong")
        self.note = audit.Note(
            action="user.password_change_failed", target_type=AuditTarget.USER, target_id=user_id
        )


async def _choose_membership(
    session: AsyncSession, *, user_id: str, organization: str | None
) -> Membership | None:
    """The named organization's membership (an invitation too: signing in accepts it);
    without a name, the oldest active membership, else the oldest invitation."""
    statement = select(Membership).where(Membership.user_id == user_id)
    if organization:
        org = await service.find_organization(session, slug_or_id=organization)
        if org is None:
            return None
        statement = statement.where(Membership.org_id == org.id)
    invited_last = case((Membership.status == MembershipStatus.ACTIVE, 0), else_=1)
    return await session.scalar(
        statement.order_by(invited_last, Membership.created_at, Membership.id).limit(1)
    )


async def _accept_invitation(
    session: AsyncSession, *, membership: Membership, client: ClientInfo
) -> None:
    membership.status = MembershipStatus.ACTIVE
    membership.invitation = None
    await audit.record(
        session,
        org_id=membership.org_id,
        action="member.joined",
        actor_type=ActorType.USER,
        actor_id=membership.user_id,
        target_type=AuditTarget.USER,
        target_id=membership.user_id,
        client=client,
        details={"role": membership.role},
    )


async def login(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    organization: str | None,
    client: ClientInfo,
    secret: str,
    ttl_s: int,
    two_factor_code: str | None = None,
) -> SignedIn:
    """Check the password (and the second factor, if the account has one) and open a
    session; failed attempts are audited and refused."""
    user = await service.find_user_by_email(session, email=email)
    password_ok = verify_password(password, user.password_hash if user else None)
    membership = (
        await _choose_membership(session, user_id=user.id, organization=organization)
        if user is not None and password_ok
        else None
    )
    active = user is not None and user.status == UserStatus.ACTIVE
    if user is None or not password_ok or not active or membership is None:
        if user is None:
            raise LoginRefused(user_id=None, org_ids=[], reason="unknown_email")
        reason = (
            "bad_password" if not password_ok else ("inactive" if not active else "no_membership")
        )
        # Recorded only where the person is a member: an organization that merely
        # invited them must not learn of the account through its audit log.
        org_ids = list(
            await session.scalars(
                select(Membership.org_id).where(
                    Membership.user_id == user.id, Membership.status == MembershipStatus.ACTIVE
                )
            )
        )
        raise LoginRefused(user_id=user.id, org_ids=org_ids, reason=reason)
    second = await two_factor.check_sign_in(
        session, user_id=user.id, org_id=membership.org_id, code=two_factor_code, secret=secret
    )
    if second is False:
        active_here = membership.status == MembershipStatus.ACTIVE
        raise TwoFactorRefused(user_id=user.id, org_ids=[membership.org_id] if active_here else [])
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return await open_session(
        session, user=user, membership=membership, client=client, secret=secret, ttl_s=ttl_s
    )


async def choose_membership(
    session: AsyncSession, *, user_id: str, organization: str | None
) -> Membership | None:
    """The membership a sign-in opens (see ``_choose_membership``)."""
    return await _choose_membership(session, user_id=user_id, organization=organization)


async def open_session(
    session: AsyncSession,
    *,
    user: User,
    membership: Membership,
    client: ClientInfo,
    secret: str,
    ttl_s: int,
    method: str = "password",
) -> SignedIn:
    """Open a login session in ``membership``'s organization for a user whose
    credentials were checked (accepting the membership if it was an invitation)."""
    if membership.status == MembershipStatus.INVITED:
        await _accept_invitation(session, membership=membership, client=client)

    now = utcnow()
    new = tokens.generate("cb_sess_", length=40)
    device = parse_device(client.user_agent)
    login_session = LoginSession(
        org_id=membership.org_id,
        user_id=user.id,
        token_hash=tokens.hash_token(new.token, secret=secret),
        device_type=device.type,
        browser=device.browser,
        os=device.os,
        user_agent=(client.user_agent or "")[:1024] or None,
        ip_address=client.ip,
        country=client.country,
        city=client.city,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    session.add(login_session)
    user.login_count += 1
    user.last_login_at = now
    user.last_activity_at = now
    await session.flush()
    await audit.record(
        session,
        org_id=membership.org_id,
        action="auth.login",
        actor_type=ActorType.USER,
        actor_id=user.id,
        target_type=AuditTarget.SESSION,
        target_id=login_session.id,
        client=client,
        details={
            "device": device.type,
            "browser": device.browser,
            "os": device.os,
            **({"method": method} if method != "password" else {}),
        },
    )
    org = await service.get_organization(session, org_id=membership.org_id)
    return SignedIn(token=new.token, login=login_session, user=user, organization=org)


async def list_sessions(
    session: AsyncSession, *, org_id: str, user_id: str, params: PageParams
) -> tuple[Sequence[LoginSession], str | None]:
    """The user's active sessions in this organization, newest first."""
    statement = select(LoginSession).where(
        LoginSession.org_id == org_id,
        LoginSession.user_id == user_id,
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > utcnow(),
    )
    return await paginate(session, statement, id_column=LoginSession.id, params=params)


async def get_session(
    session: AsyncSession, *, org_id: str, user_id: str, session_id: str
) -> LoginSession:
    found = await session.scalar(
        select(LoginSession).where(
            LoginSession.id == session_id,
            LoginSession.org_id == org_id,
            LoginSession.user_id == user_id,
        )
    )
    if found is None:
        raise NotFound("Session not found")
    return found


async def revoke(
    session: AsyncSession,
    *,
    login_session: LoginSession,
    cache: Cache,
    actor: Principal,
    client: ClientInfo,
    action: str = "auth.session_revoked",
) -> LoginSession:
    if login_session.revoked_at is None:
        login_session.revoked_at = utcnow()
        forget_after_commit(session, cache, login_session.token_hash)
        await audit.record(
            session,
            org_id=login_session.org_id,
            action=action,
            actor=actor,
            target_type=AuditTarget.SESSION,
            target_id=login_session.id,
            client=client,
        )
        await session.flush()
    return login_session


async def revoke_other_sessions(
    session: AsyncSession,
    *,
    user_id: str,
    keep_session_id: str | None,
    cache: Cache,
    org_id: str | None,
) -> int:
    """Sign out every session of the user but ``keep_session_id``; returns how many."""
    statement = select(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if org_id:
        statement = statement.where(LoginSession.org_id == org_id)
    if keep_session_id:
        statement = statement.where(LoginSession.id != keep_session_id)
    victims = list(await session.scalars(statement))
    if not victims:
        return 0
    await session.execute(
        update(LoginSession)
        .where(LoginSession.id.in_([v.id for v in victims]))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    forget_after_commit(session, cache, *(v.token_hash for v in victims))
    return len(victims)


async def change_password(
    session: AsyncSession,
    *,
    user: User,
    current_password: str,
    new_password: str,
    keep_session_id: str | None,
    cache: Cache,
    org_id: str,
    actor: Principal,
    client: ClientInfo,
) -> int:
    """Set a new password and sign out the user's other sessions everywhere."""
    if not verify_password(current_password, user.password_hash):
        raise WrongPassword(user_id=user.id)
    user.password_hash = hash_password(new_password)
    revoked = await revoke_other_sessions(
        session, user_id=user.id, keep_session_id=keep_session_id, cache=cache, org_id=None
    )
    await audit.record(
        session,
        org_id=org_id,
        action="user.password_changed",
        actor=actor,
        target_type=AuditTarget.USER,
        target_id=user.id,
        client=client,
        details={"sessions_revoked": revoked},
    )
    return revoked
