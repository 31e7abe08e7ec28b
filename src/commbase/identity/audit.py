"""The audit log of security-relevant actions, readable by owners and admins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import Principal, PrincipalKind
from commbase.core.db import Database
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.identity.models import AuditEntry

_ACTOR_TYPES = {
    PrincipalKind.USER_SESSION: "user",
    PrincipalKind.API_KEY: "api_key",
    PrincipalKind.AGENT_SESSION: "agent_session",
}


async def record(
    session: AsyncSession,
    *,
    org_id: str,
    action: str,
    actor: Principal | None = None,
    actor_type: str | None = None,
    actor_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    client: ClientInfo | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction."""
    if actor is not None:
        actor_type = _ACTOR_TYPES[actor.kind]
        actor_id = (
            actor.user_id if actor.kind == PrincipalKind.USER_SESSION else actor.credential_id
        )
    entry = AuditEntry(
        org_id=org_id,
        actor_type=actor_type or "system",
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip_address=client.ip if client else None,
        user_agent=(client.user_agent or "")[:1024] or None if client else None,
        details=details or {},
    )
    session.add(entry)
    await session.flush()
    return entry


async def record_detached(database: Database, **entry: Any) -> None:
    """Record an entry in its own transaction: for failures whose request rolls back."""
    async with database.sessionmaker() as session:
        await record(session, **entry)
        await session.commit()


async def list_entries(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    action: str | None = None,
    actor_id: str | None = None,
) -> tuple[Sequence[AuditEntry], str | None]:
    statement = select(AuditEntry).where(AuditEntry.org_id == org_id)
    if action:
        statement = statement.where(AuditEntry.action == action)
    if actor_id:
        statement = statement.where(AuditEntry.actor_id == actor_id)
    return await paginate(session, statement, id_column=AuditEntry.id, params=params)
