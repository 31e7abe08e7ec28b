"""Resolve a bearer token to a ``Principal``: API key, login session or agent session.

The token's checksum is checked first (no database work for garbage). A
verified credential is cached by its HMAC for ``principal_cache_ttl_s``; every
change that could make the cache wrong (revoke, rotate, role change, removal,
suspension) deletes the affected entries once its transaction has committed
(``forget_after_commit``), so the cache only saves work.

Deleting after commit leaves one race: a request that read the credential before
the commit but writes its cache entry after the deletion. So a request that
misses the cache reads the credential again after writing the entry: either that
second read sees the committed change, or the change's deletion comes after the
entry and removes it.

While Redis is away, credentials are read from the database and kept only in the
process's local tier, at most its ``local_ttl_s`` (5 s): a credential revoked
through another process meanwhile is refused here within that time. Entries that
were in Redis before the outage are not trusted after it (see ``core.cache``).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from commbase.core.auth import AgentGrant, KeyGrant, Principal, PrincipalKind
from commbase.core.cache import Cache
from commbase.core.db import READ_ONLY, after_commit
from commbase.core.errors import InvalidCredentials, IpNotAllowed
from commbase.core.http import ClientInfo, ip_in, parse_networks
from commbase.core.ratelimit import RateLimitRule
from commbase.core.scopes import Scope
from commbase.core.time import utcnow
from commbase.identity import account_types, tokens
from commbase.identity.agent_sessions.models import AgentSession
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.enums import (
    AgentSessionStatus,
    ApiKeyEnvironment,
    ApiKeyStatus,
    MembershipStatus,
    UserStatus,
)
from commbase.identity.members.models import Membership
from commbase.identity.models import User
from commbase.identity.roles import lower_role, may_manage, scopes_for
from commbase.identity.sessions.models import LoginSession
from commbase.identity.usage import UsageTracker
from commbase.settings import Settings


@lru_cache(maxsize=1024)
def _scope_set(values: tuple[str, ...]) -> frozenset[Scope]:
    """The scopes of a cached snapshot; a handful of distinct sets, parsed once each."""
    return frozenset(Scope(value) for value in values)


def cache_key(token_hash: str) -> str:
    return f"auth:{token_hash}"


async def forget(cache: Cache, *token_hashes: str | None) -> None:
    """Drop cached principals for these token hashes now."""
    keys = [cache_key(h) for h in token_hashes if h]
    if keys:
        await cache.delete(*keys)


def forget_after_commit(session: AsyncSession, cache: Cache, *token_hashes: str | None) -> None:
    """Drop cached principals for these token hashes once ``session`` commits.

    Before the commit, another request would still read the old row and cache it
    again; after a rollback nothing changed, so nothing is dropped.
    """
    hashes = [h for h in token_hashes if h]
    if not hashes:
        return

    async def drop() -> None:
        await forget(cache, *hashes)

    after_commit(session, drop)


class TokenAuthenticator:
    """The ``app.state.authenticator`` that ``core.auth`` calls."""

    def __init__(self, *, settings: Settings, cache: Cache, usage: UsageTracker) -> None:
        self.settings = settings
        self.secret = settings.secret_key.get_secret_value()
        self.cache = cache
        self.usage = usage

    async def __call__(
        self, *, session: AsyncSession, token: str, client: ClientInfo, request: Request
    ) -> Principal:
        kind = tokens.classify(token)
        if kind is None:
            raise InvalidCredentials("The token is malformed")
        if kind in tokens.INTAKE_KINDS:
            raise InvalidCredentials("A publishable key or access token opens /v1/intake only")
        token_hash = tokens.hash_token(token, secret=self.secret)
        snapshot = await self._cached(token_hash)
        if snapshot is None:
            snapshot = await self._load_and_remember(session, kind, token_hash)
        now = utcnow()
        valid_until = snapshot.get("valid_until")
        if valid_until is not None and datetime.fromisoformat(valid_until) <= now:
            raise InvalidCredentials("The credential has expired")
        allowed = snapshot.get("allowed_ips") or []
        if allowed and not ip_in(client.ip, parse_networks(allowed)):
            raise IpNotAllowed(f"Requests from {client.ip} are not allowed for this key")
        if snapshot.get("user_id"):
            await self.usage.touch(snapshot["credential_id"], snapshot["user_id"])
        else:
            await self.usage.touch(snapshot["credential_id"])
        rule = snapshot["rate_limit"]
        return Principal(
            kind=PrincipalKind(snapshot["kind"]),
            org_id=snapshot["org_id"],
            credential_id=snapshot["credential_id"],
            scopes=_scope_set(tuple(snapshot["scopes"])),
            rate_limit=RateLimitRule(rule[0], rule[1], rule[2]),
            user_id=snapshot.get("user_id"),
            role=snapshot.get("role"),
            key=KeyGrant(**snapshot["key"]) if "key" in snapshot else None,
            agent=AgentGrant(**snapshot["agent"]) if "agent" in snapshot else None,
            livemode=snapshot.get("livemode", True),
        )

    async def _load_and_remember(
        self, session: AsyncSession, kind: tokens.TokenKind, token_hash: str
    ) -> dict[str, Any]:
        """Read the credential, cache it, then read it again (see the module docstring)."""
        snapshot = await self._load(session, kind, token_hash)
        await self._remember(token_hash, snapshot)
        try:
            again = await self._load_again(session, kind, token_hash)
        except InvalidCredentials:
            await forget(self.cache, token_hash)
            raise
        if again != snapshot:
            await self._remember(token_hash, again)
        return again

    async def _load_again(
        self, session: AsyncSession, kind: tokens.TokenKind, token_hash: str
    ) -> dict[str, Any]:
        """The second read, which must see what committed since the first. On
        PostgreSQL each statement reads the latest commits; a SQLite transaction
        reads one snapshot (a read request's is deferred, ``core.readonly``), so
        there it reads through a connection of its own (deferred: no write lock).
        A writer's session already holds SQLite's write lock (``BEGIN IMMEDIATE``),
        so nothing commits under it and it reads on: a second connection there
        would wait for a pool slot that writers queued behind its lock hold."""
        bind = session.bind
        if (
            not isinstance(bind, AsyncEngine)
            or bind.dialect.name != "sqlite"
            or not bind.get_execution_options().get(READ_ONLY)
        ):
            return await self._load(session, kind, token_hash)
        async with AsyncSession(bind=bind.execution_options(**{READ_ONLY: True})) as fresh:
            return await self._load(fresh, kind, token_hash)

    async def _cached(self, token_hash: str) -> dict[str, Any] | None:
        raw = await self.cache.get(cache_key(token_hash))
        return orjson.loads(raw) if raw else None

    async def _remember(self, token_hash: str, snapshot: dict[str, Any]) -> None:
        await self.cache.set(
            cache_key(token_hash),
            orjson.dumps(snapshot),
            ttl_s=self.settings.principal_cache_ttl_s,
        )

    async def _role(self, session: AsyncSession, *, org_id: str, user_id: str) -> str | None:
        """The user's role in the organization; None unless an active member with an
        active account (an invitation not yet accepted grants nothing)."""
        row = await session.execute(
            select(Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.org_id == org_id,
                Membership.user_id == user_id,
                Membership.status == MembershipStatus.ACTIVE,
                User.status == UserStatus.ACTIVE,
            )
        )
        role = row.scalar()
        return None if role is None else str(role)

    async def _load(
        self, session: AsyncSession, kind: tokens.TokenKind, token_hash: str
    ) -> dict[str, Any]:
        if kind is tokens.TokenKind.API_KEY:
            return await self._load_api_key(session, token_hash)
        if kind is tokens.TokenKind.LOGIN_SESSION:
            return await self._load_login_session(session, token_hash)
        return await self._load_agent_session(session, token_hash)

    async def _load_api_key(self, session: AsyncSession, token_hash: str) -> dict[str, Any]:
        key = await session.scalar(
            select(ApiKey)
            .where(or_(ApiKey.key_hash == token_hash, ApiKey.previous_key_hash == token_hash))
            .execution_options(populate_existing=True)
        )
        if key is None or key.status != ApiKeyStatus.ACTIVE:
            raise InvalidCredentials("The API key is unknown or revoked")
        role = await self._role(session, org_id=key.org_id, user_id=key.created_by)
        if role is None:
            raise InvalidCredentials("The API key's creator is no longer an active member")
        # A key never holds more than its creator holds now, nor more than whoever
        # received its secret, when that is someone else.
        held = {s.value for s in scopes_for(role)}
        if key.issued_to is not None and key.issued_to != key.created_by:
            holder_role = await self._role(session, org_id=key.org_id, user_id=key.issued_to)
            if holder_role is None:
                raise InvalidCredentials("The API key's holder is no longer an active member")
            role = str(lower_role(role, holder_role))
            held &= {s.value for s in scopes_for(holder_role)}
        scopes = sorted(set(key.scopes) & held)
        ends = [key.expires_at]
        if key.key_hash != token_hash:
            ends.append(key.previous_expires_at or utcnow())
        rate_limit = await self._rate_limit(
            session, org_id=key.org_id, policy=key.rate_limit_tier, own=None
        )
        return {
            "kind": PrincipalKind.API_KEY.value,
            "org_id": key.org_id,
            "credential_id": key.id,
            "user_id": key.created_by,
            "role": role,
            "scopes": scopes,
            "allowed_ips": key.allowed_ips,
            "valid_until": _earliest(ends),
            "rate_limit": rate_limit,
            "key": asdict(
                KeyGrant(environment=key.environment, max_concurrent_calls=key.max_concurrent_calls)
            ),
            "livemode": key.environment == ApiKeyEnvironment.LIVE,
        }

    async def _rate_limit(
        self, session: AsyncSession, *, org_id: str, policy: str, own: int | None
    ) -> list[Any]:
        """``[policy, limit, window_s]``: the credential's own limit (an API key's tier,
        or ``own`` per minute), lowered to its organization's account-type tier. The
        policy is named after the account type when that is the one that applies."""
        tiers = self.settings.rate_limit_tiers
        kind = await account_types.account_type_of(session, settings=self.settings, org_id=org_id)
        ceiling = account_types.tier_limit(tiers, kind)
        mine = account_types.tier_limit(tiers, policy) if own is None else (own, 60)
        if ceiling[0] / ceiling[1] < mine[0] / mine[1]:
            return [kind.value, ceiling[0], ceiling[1]]
        return [policy, mine[0], mine[1]]

    async def _load_login_session(self, session: AsyncSession, token_hash: str) -> dict[str, Any]:
        login = await session.scalar(
            select(LoginSession)
            .where(LoginSession.token_hash == token_hash)
            .execution_options(populate_existing=True)
        )
        if login is None or login.revoked_at is not None:
            raise InvalidCredentials("The session is unknown or signed out")
        role = await self._role(session, org_id=login.org_id, user_id=login.user_id)
        if role is None:
            raise InvalidCredentials("The session's user is no longer an active member")
        return {
            "kind": PrincipalKind.USER_SESSION.value,
            "org_id": login.org_id,
            "credential_id": login.id,
            "user_id": login.user_id,
            "role": role,
            "scopes": sorted(s.value for s in scopes_for(role)),
            "valid_until": login.expires_at.isoformat(),
            "rate_limit": await self._rate_limit(
                session, org_id=login.org_id, policy="session", own=self.settings.session_rate_limit
            ),
        }

    async def _load_agent_session(self, session: AsyncSession, token_hash: str) -> dict[str, Any]:
        agent = await session.scalar(
            select(AgentSession)
            .where(AgentSession.token_hash == token_hash)
            .execution_options(populate_existing=True)
        )
        if agent is None or agent.status != AgentSessionStatus.ACTIVE:
            raise InvalidCredentials("The agent session is unknown, expired or terminated")
        role = await self._role(session, org_id=agent.org_id, user_id=agent.created_by)
        if role is None:
            raise InvalidCredentials("The agent session's creator is no longer a member")
        if agent.user_id is not None and agent.user_id != agent.created_by:
            # Acting for someone else holds only while the opener may act over them.
            acting_for = await self._role(session, org_id=agent.org_id, user_id=agent.user_id)
            if acting_for is None or not may_manage(role, acting_for):
                raise InvalidCredentials(
                    "The agent session's opener may no longer act for its user"
                )
        scopes = sorted(set(agent.scopes) & {s.value for s in scopes_for(role)})
        return {
            "kind": PrincipalKind.AGENT_SESSION.value,
            "org_id": agent.org_id,
            "credential_id": agent.id,
            "user_id": agent.user_id,
            "role": None,
            "scopes": scopes,
            "valid_until": agent.expires_at.isoformat(),
            "rate_limit": await self._rate_limit(
                session,
                org_id=agent.org_id,
                policy="agent-session",
                own=self.settings.session_rate_limit,
            ),
            "agent": asdict(
                AgentGrant.of(
                    agent_id=agent.agent_id,
                    session_type=agent.session_type,
                    consent=agent.user_consent,
                    limits=agent.rate_limits,
                )
            ),
            "livemode": agent.livemode,
        }


def _earliest(moments: list[datetime | None]) -> str | None:
    present = [m for m in moments if m is not None]
    return min(present).isoformat() if present else None


async def forget_user_credentials(
    session: AsyncSession, *, cache: Cache, user_id: str, org_id: str | None = None
) -> None:
    """Drop, once ``session`` commits, cached principals of every credential whose
    rights depend on the user: their login sessions, the API keys they created or
    hold, the agent sessions they opened or that act for them."""
    login = select(LoginSession.token_hash).where(LoginSession.user_id == user_id)
    keys = select(ApiKey.key_hash, ApiKey.previous_key_hash).where(
        or_(ApiKey.created_by == user_id, ApiKey.issued_to == user_id)
    )
    agents = select(AgentSession.token_hash).where(
        or_(AgentSession.created_by == user_id, AgentSession.user_id == user_id)
    )
    if org_id:
        login = login.where(LoginSession.org_id == org_id)
        keys = keys.where(ApiKey.org_id == org_id)
        agents = agents.where(AgentSession.org_id == org_id)
    hashes: list[str | None] = list((await session.scalars(login)).all())
    hashes += list((await session.scalars(agents)).all())
    for current, previous in (await session.execute(keys)).all():
        hashes += [current, previous]
    forget_after_commit(session, cache, *hashes)
