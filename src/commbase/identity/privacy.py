"""Identity's part in GDPR requests and retention.

A user is erased within one organization. What exists only for them there goes
(login sessions, agent sessions acting for them, their membership); what the
organization needs stays, without their personal data: API keys they created are
revoked, agent sessions they opened for others are terminated, audit entries they
made lose the IP address and user agent (entries made *about* them keep the
actor's). The global ``users`` row is anonymised only when no other organization
still counts them as a member; otherwise that organization keeps their account
untouched, and this one loses only the membership and its own data.

Ended agent sessions expire under the ``agent_sessions`` retention kind. Login
sessions are not a kind here: ``identity.expire_sessions`` deletes them the hour
they expire or are signed out, which no override could shorten.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.cache import Cache
from commbase.core.db import rowcount
from commbase.core.ids import new_id
from commbase.core.literals import listed
from commbase.core.time import utcnow
from commbase.identity.accounts.models import AccountToken
from commbase.identity.agent_sessions.models import AgentSession
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.authentication import forget_after_commit, forget_user_credentials
from commbase.identity.enums import (
    AgentSessionStatus,
    ApiKeyStatus,
    MembershipStatus,
    UserStatus,
)
from commbase.identity.external.models import ExternalIdentity
from commbase.identity.members.models import Membership
from commbase.identity.models import AuditEntry, User
from commbase.identity.roles import Role
from commbase.identity.sessions.models import LoginSession
from commbase.identity.two_factor.models import TwoFactor
from commbase.privacy.records import as_records, blank_personal
from commbase.privacy.registry import RetentionWindow, register_retention, register_subject

SECRETS = ("password_hash", "token_hash", "key_hash", "previous_key_hash")


async def agent_sessions_acting_for(
    session: AsyncSession, *, org_id: str, user_id: str
) -> list[str]:
    """Ids of the organization's agent sessions that act on the user's behalf."""
    rows = await session.scalars(
        select(AgentSession.id).where(
            AgentSession.org_id == org_id, AgentSession.user_id == user_id
        )
    )
    return list(rows)


async def is_last_owner(session: AsyncSession, *, org_id: str, user_id: str) -> bool:
    """Whether the user is the organization's only owner (who cannot be erased)."""
    owners = list(
        await session.scalars(
            select(Membership.user_id).where(
                Membership.org_id == org_id,
                Membership.role == Role.OWNER,
                Membership.status == MembershipStatus.ACTIVE,
            )
        )
    )
    return owners == [user_id]


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The user's account, membership, credentials and audit trail in the organization."""
    user = await session.get(User, subject_id)
    in_org = {
        "memberships": select(Membership)
        .where(Membership.org_id == org_id, Membership.user_id == subject_id)
        .order_by(Membership.id),
        "login_sessions": select(LoginSession)
        .where(LoginSession.org_id == org_id, LoginSession.user_id == subject_id)
        .order_by(LoginSession.id),
        "api_keys": select(ApiKey)
        .where(
            ApiKey.org_id == org_id,
            or_(ApiKey.created_by == subject_id, ApiKey.issued_to == subject_id),
        )
        .order_by(ApiKey.id),
        "agent_sessions": select(AgentSession)
        .where(
            AgentSession.org_id == org_id,
            or_(AgentSession.created_by == subject_id, AgentSession.user_id == subject_id),
        )
        .order_by(AgentSession.id),
        "audit_log": select(AuditEntry)
        .where(
            AuditEntry.org_id == org_id,
            or_(
                AuditEntry.actor_id == subject_id,
                (AuditEntry.target_type == "user") & (AuditEntry.target_id == subject_id),
            ),
        )
        .order_by(AuditEntry.id),
    }
    files = {"user": as_records([user] if user else [], omit=SECRETS)}
    for name, statement in in_org.items():
        files[name] = as_records(await session.scalars(statement), omit=SECRETS)
    return files


async def forget_credentials(
    session: AsyncSession, *, cache: Cache, org_id: str, user_id: str
) -> None:
    """Drop, once the erasure commits, cached principals of every credential it ends."""
    await forget_user_credentials(session, cache=cache, user_id=user_id, org_id=org_id)
    hashes = await session.scalars(
        select(AgentSession.token_hash).where(
            AgentSession.org_id == org_id, AgentSession.user_id == user_id
        )
    )
    forget_after_commit(session, cache, *hashes)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    """Remove the user from the organization; anonymise the account if it was their last."""
    now = utcnow()
    counts: dict[str, int] = {}
    counts["login_sessions"] = rowcount(
        await session.execute(
            delete(LoginSession).where(
                LoginSession.org_id == org_id, LoginSession.user_id == subject_id
            )
        )
    )
    acting = await agent_sessions_acting_for(session, org_id=org_id, user_id=subject_id)
    removed = await session.execute(delete(AgentSession).where(AgentSession.id.in_(acting)))
    # Sessions they opened for others: stopped (an active one ends now), address blanked.
    active = AgentSession.status == AgentSessionStatus.ACTIVE
    terminated = await session.execute(
        update(AgentSession)
        .where(AgentSession.org_id == org_id, AgentSession.created_by == subject_id)
        .values(
            {
                **blank_personal(AgentSession),
                AgentSession.status: case(
                    (active, AgentSessionStatus.TERMINATED.value), else_=AgentSession.status
                ),
                AgentSession.terminated_at: case(
                    (active, literal(now, AgentSession.terminated_at.type)),
                    else_=AgentSession.terminated_at,
                ),
            }
        )
        .execution_options(synchronize_session=False)
    )
    counts["agent_sessions"] = rowcount(removed) + rowcount(terminated)
    counts["api_keys"] = rowcount(
        await session.execute(
            update(ApiKey)
            .where(
                ApiKey.org_id == org_id,
                # Keys they created, and keys whose secret they hold.
                or_(ApiKey.created_by == subject_id, ApiKey.issued_to == subject_id),
                ApiKey.status != ApiKeyStatus.REVOKED,
            )
            .values(status=ApiKeyStatus.REVOKED, revoked_at=now, updated_at=now)
        )
    )
    counts["audit_log"] = rowcount(
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.org_id == org_id, AuditEntry.actor_id == subject_id)
            .values(blank_personal(AuditEntry))
        )
    )
    counts["memberships"] = rowcount(
        await session.execute(
            delete(Membership).where(Membership.org_id == org_id, Membership.user_id == subject_id)
        )
    )
    counts["users"] = await _anonymise_if_unaffiliated(
        session, user_id=subject_id, reference=reference
    )
    return counts


async def close_unused_account(session: AsyncSession, *, user_id: str) -> bool:
    """Anonymise an account that never signed in and now belongs to no organization
    (one an invitation created, whose invitations were all cancelled); True if closed."""
    user = await session.get(User, user_id)
    if user is None or user.login_count or user.last_login_at is not None:
        return False
    return bool(
        await _anonymise_if_unaffiliated(session, user_id=user_id, reference=new_id("anon"))
    )


async def _anonymise_if_unaffiliated(session: AsyncSession, *, user_id: str, reference: str) -> int:
    elsewhere = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.user_id == user_id)
    )
    if elsewhere:
        return 0
    # The account is closed for good: no organization, so no session anywhere, and
    # no emailed link or second factor left to use.
    await session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
    await session.execute(delete(AccountToken).where(AccountToken.user_id == user_id))
    await session.execute(delete(TwoFactor).where(TwoFactor.user_id == user_id))
    await session.execute(delete(ExternalIdentity).where(ExternalIdentity.user_id == user_id))
    result = await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            {
                **blank_personal(User),
                # Unique and required: the anonymous reference, not the user's id.
                User.email: f"erased+{reference}@invalid",
                User.password_hash: None,
                User.status: UserStatus.DELETED,
                User.email_verified: False,
                User.phone_verified: False,
                User.updated_at: utcnow(),
            }
        )
    )
    return rowcount(result)


async def purge_agent_sessions(
    session: AsyncSession, *, window: RetentionWindow, limit: int
) -> int:
    """Delete agent sessions that ended (terminated or expired) before their cutoff."""
    ended = func.coalesce(AgentSession.terminated_at, AgentSession.expires_at)
    ids = list(
        await session.scalars(
            select(AgentSession.id)
            .where(window.older_than(AgentSession.org_id, ended))
            .order_by(AgentSession.id)
            .limit(limit)
        )
    )
    if ids:
        # A guest session's contact book goes with it (ON DELETE CASCADE).
        await session.execute(
            delete(AgentSession).where(listed(AgentSession.id, "ids")),  # one list parameter
            {"ids": ids},
            execution_options={"synchronize_session": False},  # a purge loads no objects
        )
    return len(ids)


register_subject(
    "identity",
    "user",
    tables={"users", "memberships", "login_sessions", "api_keys", "agent_sessions", "audit_log"},
    export=export_user,
    erase=erase_user,
    order=900,  # last: the other domains find the user's agent sessions through this one
)
register_retention(
    "agent_sessions",
    default_days=30,
    min_days=0,
    max_days=365,
    purge=purge_agent_sessions,
    description="Agent sessions, counted from when they were terminated or expired",
)
