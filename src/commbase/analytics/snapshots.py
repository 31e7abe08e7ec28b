"""Snapshots: a period's metrics stored in seed 001's shape, per organization and account.

The JSON holds ``period``, one section per domain and ``generatedAt``. A domain
adds its section with ``registry.register_section`` (messaging will add
``messages``, ``campaigns`` and ``conversations`` next to today's ``calls``,
``revenue``, ``users``, ``contacts`` and ``tracking``); each key of a section
names a registered metric, counted over the period or, for ``cumulative``
keys (running totals such as ``contacts.total``), from the beginning up to the
period's end.

Snapshots are upserted on (organization, account, period start, type), so a
rerun replaces the row. The jobs run on the seed's schedules in each
organization's own time zone: a check every 15 minutes generates the latest
complete period of every organization whose local fire time has passed since
its snapshot was last written.

Jobs and ``commbase backfill`` compute snapshots in read-only transactions
(on SQLite they take no write lock) and write them in short batches, so a
long backfill never keeps the API waiting on the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commbase.analytics.calculations import growth_rate
from commbase.analytics.enums import Interval, SnapshotType
from commbase.analytics.models import Snapshot
from commbase.analytics.periods import floor, following, zone
from commbase.analytics.registry import Entry, lookup, sections
from commbase.analytics.schemas import ALL_TIME, SnapshotCreate, SnapshotRead
from commbase.analytics.service import Analytics
from commbase.core.db import READ_ONLY, Session
from commbase.core.errors import invalid
from commbase.core.ids import new_id
from commbase.core.pagination import Page, PageParams, paginate
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
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


# ------------------------------------------------------------------ computing


def _wanted(account: str | None) -> dict[str, Entry]:
    """Every section entry, keyed by metric and kind (only those split by account)."""
    wanted: dict[str, Entry] = {}
    for entries in sections().values():
        for entry in entries.values():
            if account is not None:
                metric = lookup(entry.metric)
                if metric.source is None or metric.source.account is None:
                    continue
            wanted[f"{entry.metric}:{entry.cumulative}"] = entry
    return wanted


async def compute(
    session: AsyncSession,
    org_id: str,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    *,
    account: str | None = None,
    previous: bool = False,
) -> dict[str, Any]:
    """The sections over [start, end) (with ``previous``: also the prior period and growth).

    A running total (a ``cumulative`` entry) is its value at the period's end; its
    previous value is the total at the end of the previous period (the period's
    start), not what the previous period added.
    """
    analytics = Analytics(session, org_id)
    wanted = _wanted(account)
    period = [e.metric for e in wanted.values() if not e.cumulative]
    cumulative = [e.metric for e in wanted.values() if e.cumulative]
    totals = (
        await analytics.totals(period, start, end, tz=tz, account=account, compare=previous)
        if period
        else {}
    )
    running: dict[str, dict[str, Any]] = {}
    if cumulative:
        running = await analytics.totals(cumulative, ALL_TIME, end, tz=tz, account=account)
        if previous:
            before = (
                await analytics.totals(cumulative, ALL_TIME, start, tz=tz, account=account)
                if start > ALL_TIME
                else {}
            )
            for name, entry in running.items():
                earlier = before.get(name, {}).get("total", 0)
                entry["previous_total"] = earlier
                entry["growth"] = growth_rate(entry["total"], earlier)

    def build(field: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section, entries in sections().items():
            values = {}
            for key, entry in entries.items():
                source = running if entry.cumulative else totals
                if entry.metric in source:
                    values[key] = source[entry.metric].get(field, 0)
            if values:
                out[section] = values
        return out

    result: dict[str, Any] = {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        **build("total"),
        "generatedAt": utcnow().isoformat(),
    }
    if previous:
        result["previous"] = build("previous_total")
        result["growth"] = build("growth")
    return result


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
        "metrics": await compute(session, org.id, start, end, tz, account=account),
        "created_at": now,
        "updated_at": now,
    }


async def _rows_of_period(
    session: AsyncSession, org: OrgClock, snapshot_type: SnapshotType, start: datetime
) -> list[dict[str, Any]]:
    """The organization-wide snapshot and one per channel account active in the period."""
    end = following(start, SCHEDULES[snapshot_type].interval, org.tz)
    accounts = await tracking_service.active_accounts(session, org_id=org.id, start=start, end=end)
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


def _reader(session_factory: SessionFactory) -> SessionFactory:
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
    async with _reader(session_factory)() as session:
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
    reader = _reader(session_factory)
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
    reader = _reader(session_factory)
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


async def latest(session: AsyncSession, org_id: str) -> Snapshot | None:
    result: Snapshot | None = await session.scalar(
        select(Snapshot)
        .where(Snapshot.org_id == org_id)
        .order_by(Snapshot.updated_at.desc())
        .limit(1)
    )
    return result


# ------------------------------------------------------------------ the API's service


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
        async with _reader(session_factory)() as reader:
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
