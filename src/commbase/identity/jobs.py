"""Scheduled identity work: drop expired sessions, write credential usage."""

from __future__ import annotations

from sqlalchemy import case, delete, func, or_, update

from commbase.core.db import rowcount
from commbase.core.jobs import JobContext, job
from commbase.identity.agent_sessions import service as agent_sessions
from commbase.identity.agent_sessions.models import AgentSession
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.models import User
from commbase.identity.sessions.models import LoginSession
from commbase.identity.usage import UsageTracker


@job("identity.expire_sessions", schedule="0 * * * *")
async def expire_sessions(ctx: JobContext) -> int:
    """Delete expired or signed-out login sessions; mark agent sessions past expiry."""
    async with ctx.database.sessionmaker() as session:
        removed = await session.execute(
            delete(LoginSession).where(
                or_(LoginSession.expires_at <= ctx.now, LoginSession.revoked_at.is_not(None))
            )
        )
        expired = await agent_sessions.expire_due(session)
        await session.commit()
    return rowcount(removed) + expired


async def flush_usage_now(ctx: JobContext) -> int:
    usage: UsageTracker | None = ctx.services.get("usage")
    if usage is None:
        return 0
    drained = await usage.drain()
    if not drained:
        return 0
    async with ctx.database.sessionmaker() as session:
        for credential_id, used in drained.items():
            if credential_id.startswith("key_"):
                await session.execute(
                    update(ApiKey)
                    .where(ApiKey.id == credential_id)
                    .values(
                        total_requests=ApiKey.total_requests + used.count,
                        last_used_at=case(
                            (ApiKey.last_used_at.is_(None), used.last_used),
                            (ApiKey.last_used_at < used.last_used, used.last_used),
                            else_=ApiKey.last_used_at,
                        ),
                        first_used_at=func.coalesce(ApiKey.first_used_at, used.last_used),
                    )
                )
            elif credential_id.startswith("sess_"):
                await session.execute(
                    update(LoginSession)
                    .where(LoginSession.id == credential_id)
                    .values(last_seen_at=used.last_used)
                )
            elif credential_id.startswith("ags_"):
                await session.execute(
                    update(AgentSession)
                    .where(AgentSession.id == credential_id)
                    .values(last_activity_at=used.last_used)
                )
            elif credential_id.startswith("usr_"):
                await session.execute(
                    update(User)
                    .where(User.id == credential_id)
                    .values(last_activity_at=used.last_used)
                )
        await session.commit()
    return len(drained)


@job("identity.flush_usage", schedule="* * * * *")
async def flush_usage(ctx: JobContext) -> int:
    """Write API key request counts and last-used times, session last-seen times."""
    return await flush_usage_now(ctx)
