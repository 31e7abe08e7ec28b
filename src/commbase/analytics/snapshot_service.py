"""The snapshots API's service: generate one now, list and export stored snapshots,
and find an organization's latest (for the health check).

An export streams as CSV, one row per snapshot and one column per section key,
read by its own read-only session while the response is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.enums import SnapshotType
from commbase.analytics.models import Snapshot
from commbase.analytics.registry import sections
from commbase.analytics.schemas import SnapshotCreate, SnapshotRead
from commbase.analytics.snapshots import (
    OrgClock,
    SessionFactory,
    due_period,
    generate,
    read_only_sessions,
)
from commbase.core.errors import invalid
from commbase.core.pagination import Page, PageParams, paginate
from commbase.identity import service as identity_service
from commbase.messaging.accounts import service as accounts_service


async def latest(session: AsyncSession, org_id: str) -> Snapshot | None:
    """The organization's most recently written snapshot, if any."""
    result: Snapshot | None = await session.scalar(
        select(Snapshot)
        .where(Snapshot.org_id == org_id)
        .order_by(Snapshot.updated_at.desc())
        .limit(1)
    )
    return result


def snapshot_read(row: Snapshot) -> SnapshotRead:
    read = SnapshotRead.model_validate(row)
    read.account_id = row.account_id or None
    return read


async def create_snapshot(
    session: AsyncSession, *, org_id: str, data: SnapshotCreate, now: datetime
) -> SnapshotRead:
    """Generate (or regenerate) one snapshot now; a period that has not begun is a 422."""
    found = await identity_service.get_organization(session, org_id=org_id)
    org = OrgClock(found.id, found.timezone)
    tz = org.tz
    kind = SnapshotType(data.type)
    if data.date is None:
        _, moment = due_period(kind, now, tz)
    else:
        if data.date > now.astimezone(tz).date():
            raise invalid("Snapshots are of periods that have begun: the date is ahead", "date")
        hour = (data.hour or 0) if kind == SnapshotType.HOURLY else 0
        local = datetime.combine(data.date, time(hour)).replace(tzinfo=tz)
        moment = local.astimezone(UTC)
        if moment > now:
            raise invalid("Snapshots are of periods that have begun: the hour is ahead", "hour")
    if data.account_id is not None:
        await accounts_service.check_analytics_account(
            session, org_id=org_id, account_id=data.account_id
        )
    row = await generate(session, org, kind, moment, account=data.account_id)
    return snapshot_read(row)


@dataclass(frozen=True)
class SnapshotFilter:
    type: SnapshotType | None = None
    account_id: str | None = None
    start: datetime | None = None  # period_start at or after
    end: datetime | None = None  # period_start before


def _snapshot_query(org_id: str, where: SnapshotFilter) -> Select[Any]:
    statement = select(Snapshot).where(Snapshot.org_id == org_id)
    if where.type is not None:
        statement = statement.where(Snapshot.snapshot_type == where.type)
    if where.account_id is not None:
        statement = statement.where(Snapshot.account_id == where.account_id)
    if where.start is not None:
        statement = statement.where(Snapshot.period_start >= where.start)
    if where.end is not None:
        statement = statement.where(Snapshot.period_start < where.end)
    return statement


async def list_snapshots(
    session: AsyncSession, *, org_id: str, where: SnapshotFilter, params: PageParams
) -> Page[SnapshotRead]:
    statement = _snapshot_query(org_id, where)
    rows, cursor = await paginate(session, statement, id_column=Snapshot.id, params=params)
    return Page(data=[snapshot_read(r) for r in rows], next_cursor=cursor)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, out)
    else:
        out[prefix] = value


@dataclass(frozen=True)
class CsvExport:
    header: list[str]
    rows: AsyncIterator[list[Any]]
    filename: str


def export_snapshots(
    session_factory: SessionFactory, *, org_id: str, where: SnapshotFilter
) -> CsvExport:
    """One row per snapshot, one column per metric (``calls.total``, ...), oldest first,
    read in batches by its own read-only session while the response streams."""
    statement = _snapshot_query(org_id, where).order_by(Snapshot.period_start, Snapshot.account_id)
    columns = [f"{name}.{key}" for name, entries in sections().items() for key in entries]
    header = ["date", "type", "account_id", "period_start", "period_end", *columns]

    async def rows() -> AsyncIterator[list[Any]]:
        async with read_only_sessions(session_factory)() as reader:
            result = await reader.stream_scalars(statement.execution_options(yield_per=500))
            async for row in result:
                flat: dict[str, Any] = {}
                _flatten("", row.metrics, flat)
                yield [
                    row.date.isoformat(),
                    row.snapshot_type,
                    row.account_id,
                    row.period_start.isoformat(),
                    row.period_end.isoformat(),
                    *(flat.get(c, "") for c in columns),
                ]

    return CsvExport(header, rows(), "snapshots.csv")
