"""Scheduled identity work: drop expired sessions, write credential usage."""

from __future__ import annotations

from sqlalchemy import delete, or_

from commbase.core.db import rowcount
from commbase.core.jobs import JobContext, job
from commbase.identity.agent_sessions import service as agent_sessions
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
    """Write this process's counted usage now (each process also does every few
    seconds by itself, see ``identity.usage``)."""
    usage: UsageTracker | None = ctx.services.get("usage")
    if usage is None:
        return 0
    return await usage.flush()


@job("identity.flush_usage", schedule="* * * * *")
async def flush_usage(ctx: JobContext) -> int:
    """Write API key request counts and last-used times, session last-seen times
    (those counted by the process that runs it; every process also writes its own
    every few seconds)."""
    return await flush_usage_now(ctx)
