"""Visitor ids: who a browser is, without keeping who it is.

A browser's visitor id is ``vis_`` + 24 hex of sha256(daily salt, organization,
IP, User-Agent), as Plausible does: it is stable for a UTC day and unlinkable
across days once the salt is deleted. A client may send its own id (a
first-party cookie) instead; it is hashed with the organization, so ids never
meet across tenants.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.http import ClientInfo
from commbase.core.time import utcnow
from commbase.tracking.models import TrackingSalt

SALT_DAYS_KEPT = 2  # today's salt and yesterday's; older ones are deleted


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


async def daily_salt(session: AsyncSession, *, day: date) -> str:
    """The random salt of ``day`` (UTC), created by whoever asks first; old ones go."""
    salt = await session.scalar(select(TrackingSalt.salt).where(TrackingSalt.day == day))
    if salt is not None:
        return salt
    values = {"day": day, "salt": secrets.token_hex(32), "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(TrackingSalt)
    await session.execute(statement.values(values).on_conflict_do_nothing(index_elements=["day"]))
    await session.execute(
        delete(TrackingSalt).where(TrackingSalt.day <= day - timedelta(days=SALT_DAYS_KEPT))
    )
    stored = await session.scalar(select(TrackingSalt.salt).where(TrackingSalt.day == day))
    assert stored is not None  # inserted above, or by a concurrent request that won
    return stored


async def visitor_id_for(
    session: AsyncSession,
    *,
    org_id: str,
    client: ClientInfo,
    own_id: str | None,
    now: datetime,
) -> str:
    """The visitor's id: from the client's own id, else from today's salt, IP and agent."""
    if own_id is not None:
        return "vis_" + _digest("client", org_id, own_id)
    salt = await daily_salt(session, day=now.date())
    return "vis_" + _digest(salt, org_id, client.ip or "", client.user_agent or "")
