"""Retention policies: each organization's overrides, and the batched purge that applies them.

The kinds and their defaults come from the registry (``registry.register_retention``);
an organization may override any kind within the kind's bounds. The purge deletes
at most ``BATCH`` rows per transaction and commits between batches, so it never
holds SQLite's single writer lock, or PostgreSQL row locks, for long.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import Principal
from commbase.core.db import Database
from commbase.core.errors import ValidationFailed
from commbase.core.http import ClientInfo
from commbase.identity import audit
from commbase.privacy import domains as _domains  # noqa: F401  (fills the registry)
from commbase.privacy.models import RetentionPolicy
from commbase.privacy.registry import RetentionKind, RetentionWindow, period_of, retention_kinds

log = structlog.get_logger("commbase.privacy.retention")
BATCH = 1000


async def overrides_of(session: AsyncSession, *, org_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(RetentionPolicy.kind, RetentionPolicy.days).where(RetentionPolicy.org_id == org_id)
    )
    return {kind: days for kind, days in rows.all()}


async def days_for(session: AsyncSession, *, org_id: str, kind: str) -> int:
    """The organization's period for ``kind``: its override, else the kind's default."""
    overrides = await overrides_of(session, org_id=org_id)
    return period_of(kind, overrides.get(kind))


async def policies(session: AsyncSession, *, org_id: str) -> list[dict[str, Any]]:
    """Every kind with the organization's period, its default and its bounds."""
    overrides = await overrides_of(session, org_id=org_id)
    return [
        {
            "kind": kind.name,
            "description": kind.description,
            "days": overrides.get(kind.name, kind.default_days),
            "default_days": kind.default_days,
            "min_days": kind.min_days,
            "max_days": kind.max_days,
            "overridden": kind.name in overrides,
        }
        for kind in retention_kinds().values()
    ]


def _check(overrides: dict[str, int]) -> None:
    kinds = retention_kinds()
    errors = []
    for name, days in sorted(overrides.items()):
        kind = kinds.get(name)
        if kind is None:
            message = f"unknown kind; one of: {', '.join(kinds)}"
        elif not kind.min_days <= days <= kind.max_days:
            message = f"must be between {kind.min_days} and {kind.max_days} days"
        else:
            continue
        errors.append({"loc": ["body", "overrides", name], "field": name, "message": message})
    if errors:
        raise ValidationFailed("Some retention periods are not allowed", errors=errors)


async def replace_overrides(
    session: AsyncSession, *, principal: Principal, client: ClientInfo, overrides: dict[str, int]
) -> list[dict[str, Any]]:
    """Make ``overrides`` the organization's only overrides; audit what changed."""
    _check(overrides)
    org_id = principal.org_id
    current = {
        row.kind: row
        for row in await session.scalars(
            select(RetentionPolicy).where(RetentionPolicy.org_id == org_id)
        )
    }
    changes: dict[str, dict[str, int | None]] = {}
    for name in sorted(current.keys() | overrides.keys()):
        before = current[name].days if name in current else None
        after = overrides.get(name)
        if before == after:
            continue
        changes[name] = {"from": before, "to": after}
        if after is None:
            await session.delete(current[name])
        elif name in current:
            current[name].days, current[name].updated_by = after, principal.actor_id
        else:
            session.add(
                RetentionPolicy(org_id=org_id, kind=name, days=after, updated_by=principal.actor_id)
            )
        kind = retention_kinds().get(name)
        if kind is not None and kind.on_change is not None:
            await kind.on_change(session, org_id=org_id, days=after)
    if changes:
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            action="privacy.retention_changed",
            actor=principal,
            target_type="organization",
            target_id=org_id,
            client=client,
            details={"changes": changes},
        )
    return await policies(session, org_id=org_id)


# ------------------------------------------------------------------------ purge


async def _window(
    database: Database, kind: RetentionKind, now: datetime, org_id: str | None
) -> RetentionWindow:
    async with database.sessionmaker() as session:
        query = select(RetentionPolicy.org_id, RetentionPolicy.days).where(
            RetentionPolicy.kind == kind.name
        )
        if org_id is not None:
            query = query.where(RetentionPolicy.org_id == org_id)
        overrides = {org: days for org, days in (await session.execute(query)).all()}
    return RetentionWindow(
        now=now, default_days=kind.default_days, overrides=overrides, org_id=org_id
    )


async def purge_kind(
    database: Database,
    kind: RetentionKind,
    *,
    now: datetime,
    batch_size: int = BATCH,
    org_id: str | None = None,
) -> int:
    """Delete everything of ``kind`` past its period, one committed batch at a time
    (of one organization's rows only, given ``org_id``)."""
    if org_id is not None and not kind.per_organization:
        raise ValueError(f"retention of {kind.name} cannot run for one organization")
    window = await _window(database, kind, now, org_id)
    removed = 0
    while True:
        async with database.sessionmaker() as session:
            batch = await kind.purge(session, window=window, limit=batch_size)
            await session.commit()
        removed += batch
        if batch < batch_size:
            return removed


async def purge_all(
    database: Database, *, now: datetime, batch_size: int = BATCH, org_id: str | None = None
) -> tuple[dict[str, int], dict[str, Exception]]:
    """Purge every kind; one kind failing does not keep the others from running.

    Given ``org_id``, only that organization's rows of the kinds that can be purged
    for one organization; the scheduled pass over every organization does the rest.
    """
    removed: dict[str, int] = {}
    failed: dict[str, Exception] = {}
    for kind in retention_kinds().values():
        if org_id is not None and not kind.per_organization:
            continue
        try:
            removed[kind.name] = await purge_kind(
                database, kind, now=now, batch_size=batch_size, org_id=org_id
            )
        except Exception as exc:
            log.error("retention purge failed", kind=kind.name, error=str(exc))
            failed[kind.name] = exc
    return removed, failed
