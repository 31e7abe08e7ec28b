"""Agent sessions: an AI agent's own short-lived credential (Ringez ``sessions``).

A session acts on behalf of a user (``authenticated``: their wallet, caller ID and
limits) only when opened by that user, or by someone who may manage them (an
owner, or an admin for anyone but an owner); authentication checks this again on
every use. A session opened with a test-mode credential is itself test mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.auth import Principal
from commbase.core.cache import Cache
from commbase.core.db import rowcount
from commbase.core.errors import NotFound, PermissionDenied
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import audit, events, service, tokens
from commbase.identity.agent_sessions.models import AgentSession
from commbase.identity.agent_sessions.schemas import AgentSessionCreate
from commbase.identity.authentication import forget_after_commit
from commbase.identity.enums import AgentSessionStatus, AgentSessionType, AuditTarget
from commbase.identity.roles import AGENT_SESSION_SCOPES, may_manage

ON_BEHALF_REFUSED = "agent_session.on_behalf_refused"


class OnBehalfRefused(audit.Audited, PermissionDenied):
    """An agent session for a user the caller may not act for: refused and audited."""

    def __init__(self, detail: str, *, user_id: str, user_role: str | None) -> None:
        super().__init__(detail)
        self.note = audit.Note(
            action=ON_BEHALF_REFUSED,
            target_type=AuditTarget.USER,
            target_id=user_id,
            details={"user_role": user_role},
        )


async def _check_may_act_for(session: AsyncSession, *, actor: Principal, user_id: str) -> None:
    """NotFound unless ``user_id`` is a member; ``OnBehalfRefused`` unless the caller is
    that user or may manage them."""
    await service.get_member_user(session, org_id=actor.org_id, user_id=user_id)
    if user_id == actor.user_id:
        return
    membership = await service.get_membership(session, org_id=actor.org_id, user_id=user_id)
    role = membership.role if membership is not None else None
    if not may_manage(actor.role, role):
        raise OnBehalfRefused(
            f"A {actor.role or 'credential'} cannot open an agent session acting for a {role}",
            user_id=user_id,
            user_role=role,
        )


async def open_session(
    session: AsyncSession,
    *,
    data: AgentSessionCreate,
    actor: Principal,
    client: ClientInfo,
    secret: str,
    default_ttl_s: int,
) -> tuple[AgentSession, str]:
    """Open an agent session; its token can do what both the agent role and its
    creator can."""
    if actor.user_id is None:
        raise PermissionDenied("Agent sessions are opened by a user or a user's API key")
    user_id = None
    if data.session_type == AgentSessionType.AUTHENTICATED:
        user_id = data.user_id or actor.user_id
        await _check_may_act_for(session, actor=actor, user_id=user_id)
    now = utcnow()
    new = tokens.generate("cb_agt_", length=40)
    agent = AgentSession(
        org_id=actor.org_id,
        session_type=data.session_type,
        user_id=user_id,
        created_by=actor.user_id,
        token_hash=tokens.hash_token(new.token, secret=secret),
        agent_id=data.agent_context.agent_id,
        agent_context=data.agent_context.model_dump(mode="json"),
        user_consent=data.user_consent.model_dump(mode="json"),
        rate_limits=data.rate_limits.model_dump(mode="json"),
        stats={"calls_made": 0, "total_duration": 0, "total_spent": 0},
        scopes=sorted(s.value for s in AGENT_SESSION_SCOPES & actor.scopes),
        status=AgentSessionStatus.ACTIVE,
        livemode=actor.livemode,
        ip_address=client.ip,
        user_agent=(client.user_agent or "")[:1024] or None,
        created_at=now,
        expires_at=now + timedelta(seconds=data.expires_in_s or default_ttl_s),
    )
    session.add(agent)
    await session.flush()
    await outbox.record(
        session,
        events.AGENT_SESSION_CREATED,
        {"id": agent.id, "agent_id": agent.agent_id, "session_type": agent.session_type},
        org_id=actor.org_id,
    )
    return agent, new.token


async def get_session(session: AsyncSession, *, org_id: str, session_id: str) -> AgentSession:
    agent = await session.scalar(
        select(AgentSession).where(AgentSession.org_id == org_id, AgentSession.id == session_id)
    )
    if agent is None:
        raise NotFound("Agent session not found")
    if agent.status == AgentSessionStatus.ACTIVE and agent.expires_at <= utcnow():
        agent.status = AgentSessionStatus.EXPIRED
    return agent


async def list_sessions(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: AgentSessionStatus | None = None,
    agent_id: str | None = None,
) -> tuple[Sequence[AgentSession], str | None]:
    statement = select(AgentSession).where(AgentSession.org_id == org_id)
    if status:
        statement = statement.where(AgentSession.status == status)
    if agent_id:
        statement = statement.where(AgentSession.agent_id == agent_id)
    return await paginate(session, statement, id_column=AgentSession.id, params=params)


async def terminate(
    session: AsyncSession,
    *,
    agent: AgentSession,
    actor: Principal,
    client: ClientInfo,
    cache: Cache,
) -> AgentSession:
    if agent.status == AgentSessionStatus.ACTIVE:
        agent.status = AgentSessionStatus.TERMINATED
        agent.terminated_at = utcnow()
        forget_after_commit(session, cache, agent.token_hash)
        await audit.record(
            session,
            org_id=agent.org_id,
            action=events.AGENT_SESSION_TERMINATED,
            actor=actor,
            target_type=AuditTarget.AGENT_SESSION,
            target_id=agent.id,
            client=client,
        )
        await outbox.record(
            session, events.AGENT_SESSION_TERMINATED, {"id": agent.id}, org_id=agent.org_id
        )
        await session.flush()
    return agent


async def expire_due(session: AsyncSession) -> int:
    """Mark active sessions past their expiry as expired; returns how many."""
    result = await session.execute(
        update(AgentSession)
        .where(
            AgentSession.status == AgentSessionStatus.ACTIVE,
            AgentSession.expires_at <= utcnow(),
        )
        .values(status=AgentSessionStatus.EXPIRED)
    )
    return rowcount(result)


async def record_call(
    session: AsyncSession, *, org_id: str, session_id: str, duration_s: int, spent: int
) -> None:
    """Add a finished call to an agent session's usage stats."""
    agent = await session.scalar(
        select(AgentSession)
        .where(AgentSession.org_id == org_id, AgentSession.id == session_id)
        .with_for_update()
    )
    if agent is None:
        return
    stats = dict(agent.stats)
    stats["calls_made"] = int(stats.get("calls_made", 0)) + 1
    stats["total_duration"] = int(stats.get("total_duration", 0)) + max(0, duration_s)
    stats["total_spent"] = int(stats.get("total_spent", 0)) + spent
    agent.stats = stats
    agent.last_activity_at = utcnow()
    await session.flush()
