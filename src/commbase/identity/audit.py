"""The audit log of security-relevant actions, readable by owners and admins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import Principal, PrincipalKind
from commbase.core.db import Database
from commbase.core.http import ClientInfo
from commbase.core.pagination import PageParams, paginate
from commbase.identity.enums import ActorType
from commbase.identity.models import AuditEntry

_ACTOR_TYPES = {
    PrincipalKind.USER_SESSION: ActorType.USER,
    PrincipalKind.API_KEY: ActorType.API_KEY,
    PrincipalKind.AGENT_SESSION: ActorType.AGENT_SESSION,
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
        actor_type=actor_type or ActorType.SYSTEM,
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


@dataclass(frozen=True)
class Note:
    """What the audit log records about a refused request."""

    action: str
    target_type: str | None = None
    target_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Audited(Exception):
    """Mixed into a commbase error the audit log records though the request's
    transaction rolls back (see ``refusals_recorded``): ``class X(Audited, PermissionDenied)``."""

    note: Note


@asynccontextmanager
async def refusals_recorded(
    session: AsyncSession, database: Database, *, actor: Principal, client: ClientInfo
) -> AsyncIterator[None]:
    """Record ``Audited`` errors raised inside, each in its own transaction.

    The request's transaction is rolled back first: it would roll back anyway, and
    on SQLite it holds the write lock the detached entry needs.
    """
    try:
        yield
    except Audited as refusal:
        await session.rollback()
        note = refusal.note
        await record_detached(
            database,
            org_id=actor.org_id,
            action=note.action,
            actor=actor,
            target_type=note.target_type,
            target_id=note.target_id,
            client=client,
            details=note.details,
        )
        raise


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
