"""Stored snapshots: a period's sections (``sections.py``) per organization and
account, generated on schedule in each organization's own time zone.

Snapshots are upserted on (organization, account, period start, type), so a
rerun replaces the row. The jobs run on the seed's schedules in each
organization's own time zone: a check every 15 minutes generates the latest
complete period of every organization whose local fire time has passed since
its snapshot was last written. Each period has an organization-wide snapshot
and one per channel account active in it.

Jobs and ``commbase backfill`` compute snapshots in read-only transactions
(on SQLite they take no write lock) and write them in short batches, so a
long backfill never keeps the API waiting on the database. Reading, listing
and exporting stored snapshots is ``snapshot_service.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commbase.analytics import sections
from commbase.analytics.enums import Interval, SnapshotType
from commbase.analytics.models import Snapshot
from commbase.analytics.periods import floor, following, zone
from commbase.core.db import READ_ONLY, Session
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.messaging import metrics as messaging_metrics
from commbase.tracking import service as tracking_service

SessionFactory = Callable[[], Any]  # an async_sessionmaker
# Periods computed before their rows are written in one transaction (backfills).
WRITE_BATCH = 24


@dataclass(frozen=True)
class Schedule:
    interval: Interval
    cron: str  # in the organization's time zone


SCHEDULES: dict[SnapshotType, Schedule] = {
    SnapshotType.HOURLY: Schedule(Interval.HOUR, "5 * * * *"),
    SnapshotType.DAILY: Schedule(Interval.DAY, "0 2 * * *"),
    SnapshotType.WEEKLY: Schedule(Interval.WEEK, "0 3 * * 1"),
    SnapshotType.MONTHLY: Schedule(Interval.MONTH, "0 4 1 * *"),
    SnapshotType.YEARLY: Schedule(Interval.YEAR, "0 5 1 1 *"),
}


@dataclass(frozen=True)
class OrgClock:
    """An organization as snapshots need it: its id and its time zone's name."""

    id: str
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)


def period_of(moment: datetime, interval: Interval, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = floor(moment, interval, tz)
    return start, following(start, interval, tz)


async def _row(
    session: AsyncSession,
    org: OrgClock,
    snapshot_type: SnapshotType,
    start: datetime,
    *,
    account: str | None,
) -> dict[str, Any]:
    """The values of one snapshot row (computed, not yet written)."""
    tz = org.tz
    end = following(start, SCHEDULES[snapshot_type].interval, tz)
    now = utcnow()
    return {
        "org_id": org.id,
        "account_id": account or "",
        "date": start.astimezone(tz).date(),
        "snapshot_type": snapshot_type,
        "period_start": start,
        "period_end": end,
        "timezone": org.timezone,
        "metrics": await sections.compute(session, org.id, start, end, tz, account=account),
        "created_at": now,
        "updated_at": now,
    }


async def _rows_of_period(
    session: AsyncSession, org: OrgClock, snapshot_type: SnapshotType, start: datetime
) -> list[dict[str, Any]]:
    """The organization-wide snapshot and one per channel account active in the period."""
    end = following(start, SCHEDULES[snapshot_type].interval, org.tz)
    accounts = await tracking_service.active_accounts(session, org_id=org.id, start=start, end=end)
    messaging = await messaging_metrics.active_accounts(
        session, org_id=org.id, start=start, end=end
    )
    accounts = sorted(set(accounts) | set(messaging))
    return [
        await _row(session, org, snapshot_type, start, account=account)
        for account in [None, *accounts]
    ]


async def _upsert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    for values in rows:
        statement = insert_(Snapshot).values(id=new_id("snap"), **values)
        statement = statement.on_conflict_do_update(
            index_elements=["org_id", "account_id", "period_start", "snapshot_type"],
            set_={
                "metrics": values["metrics"],
                "updated_at": values["updated_at"],
                "timezone": values["timezone"],
                "period_end": values["period_end"],
            },
        )
        await session.execute(statement)


async def generate(
    session: AsyncSession,
    org: OrgClock,
    snapshot_type: SnapshotType,
    moment: datetime,
    *,
    account: str | None = None,
) -> Snapshot:
    """Compute and upsert the ``snapshot_type`` snapshot of the period containing ``moment``."""
    start, _ = period_of(moment, SCHEDULES[snapshot_type].interval, org.tz)
    await _upsert(session, [await _row(session, org, snapshot_type, start, account=account)])
    found = await session.scalar(
        select(Snapshot)
        .where(
            Snapshot.org_id == org.id,
            Snapshot.account_id == (account or ""),
            Snapshot.period_start == start,
            Snapshot.snapshot_type == snapshot_type,
        )
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


def read_only_sessions(session_factory: SessionFactory) -> SessionFactory:
    """Sessions of the same database that only read (no write lock on SQLite)."""
    bind = getattr(session_factory, "kw", {}).get("bind")
    if bind is None:
        return session_factory
    return async_sessionmaker(
        bind.execution_options(**{READ_ONLY: True}), class_=Session, expire_on_commit=False
    )


async def _organizations(
    session_factory: SessionFactory, org_ids: Sequence[str] | None
) -> list[OrgClock]:
    async with read_only_sessions(session_factory)() as session:
        found = await identity_service.active_organizations(session, org_ids=org_ids)
        return [OrgClock(org.id, org.timezone) for org in found]


def due_period(
    snapshot_type: SnapshotType, now: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """(latest local fire time at or before ``now``, start of the period it reports)."""
    schedule = SCHEDULES[snapshot_type]
    local_now = now.astimezone(tz)
    fire: datetime = croniter(schedule.cron, local_now).get_prev(datetime)
    if croniter.match(schedule.cron, local_now.replace(second=0, microsecond=0)):
        fire = local_now.replace(second=0, microsecond=0)
    current = floor(fire, schedule.interval, tz)
    return fire, floor(current - timedelta(microseconds=1), schedule.interval, tz)


async def run_due(
    session_factory: SessionFactory,
    snapshot_type: SnapshotType,
    now: datetime,
    *,
    force: bool = False,
    org_id: str | None = None,
) -> int:
    """Generate the latest complete period for every organization (or only ``org_id``)
    whose fire time has passed since its snapshot was written; returns rows written."""
    written = 0
    reader = read_only_sessions(session_factory)
    for org in await _organizations(session_factory, None if org_id is None else [org_id]):
        fire, period_start = due_period(snapshot_type, now, org.tz)
        async with reader() as session:
            last_written = await session.scalar(
                select(func.max(Snapshot.updated_at)).where(
                    Snapshot.org_id == org.id,
                    Snapshot.account_id == "",
                    Snapshot.snapshot_type == snapshot_type,
                    Snapshot.period_start == period_start,
                )
            )
            if not (force or last_written is None or last_written < fire):
                continue
            rows = await _rows_of_period(session, org, snapshot_type, period_start)
        async with session_factory() as session:
            await _upsert(session, rows)
            await session.commit()
        written += len(rows)
    return written


def periods_between(
    snapshot_type: SnapshotType, first: date, last: date, tz: ZoneInfo
) -> list[datetime]:
    """Start (UTC) of every ``snapshot_type`` period touching local dates [first, last]."""
    interval = SCHEDULES[snapshot_type].interval
    cursor = floor(_midnight(first, tz), interval, tz)
    stop = _midnight(last + timedelta(days=1), tz)
    starts = []
    while cursor < stop:
        starts.append(cursor)
        cursor = following(cursor, interval, tz)
    return starts


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return floor(datetime(day.year, day.month, day.day, 12, tzinfo=tz), Interval.DAY, tz)


async def backfill(
    session_factory: SessionFactory,
    snapshot_type: SnapshotType | str,
    first: date,
    last: date,
    *,
    org_ids: list[str] | None = None,
    progress: Any = None,
) -> int:
    """Regenerate every period in [first, last] for the given (default all) organizations.

    Periods are computed in read-only transactions and written ``WRITE_BATCH`` at
    a time, each batch in one short transaction. ``progress(total=n)`` is called
    once, then ``progress(advance=k)`` after each batch of k periods.
    """
    kind = SnapshotType(snapshot_type)
    orgs = await _organizations(session_factory, org_ids or None)
    plan = [(org, start) for org in orgs for start in periods_between(kind, first, last, org.tz)]
    if progress is not None:
        progress(total=len(plan))
    reader = read_only_sessions(session_factory)
    written = 0
    for offset in range(0, len(plan), WRITE_BATCH):
        batch = plan[offset : offset + WRITE_BATCH]
        rows: list[dict[str, Any]] = []
        async with reader() as session:
            for org, start in batch:
                rows += await _rows_of_period(session, org, kind, start)
        async with session_factory() as session:
            await _upsert(session, rows)
            await session.commit()
        written += len(rows)
        if progress is not None:
            progress(advance=len(batch))
    return written
