"""Snapshots: a period's metrics stored in seed 001's shape, per organization and account.

The JSON holds ``period``, one section per domain and ``generatedAt``. A domain
adds its section with ``registry.register_section`` (messaging will add
``messages``, ``campaigns`` and ``conversations`` next to today's ``calls``,
``revenue``, ``users``, ``contacts`` and ``tracking``); each key of a section
names a registered metric, counted over the period or, for ``cumulative``
keys, from the beginning up to the period's end.

Snapshots are upserted on (organization, account, period start, type), so a
rerun replaces the row. The jobs run on the seed's schedules in each
organization's own time zone: a check every 15 minutes generates the latest
complete period of every organization whose local fire time has passed since
its snapshot was last written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.models import Snapshot
from commbase.analytics.periods import Interval, floor, following, zone
from commbase.analytics.registry import Entry, lookup, sections
from commbase.analytics.service import Analytics
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.identity.models import Organization
from commbase.tracking.metrics import TRACKED_EVENTS
from commbase.tracking.models import TrackedEvent

SnapshotType = Literal["hourly", "daily", "weekly", "monthly", "yearly"]


@dataclass(frozen=True)
class Schedule:
    interval: Interval
    cron: str  # in the organization's time zone


SCHEDULES: dict[str, Schedule] = {
    "hourly": Schedule("hour", "5 * * * *"),
    "daily": Schedule("day", "0 2 * * *"),
    "weekly": Schedule("week", "0 3 * * 1"),
    "monthly": Schedule("month", "0 4 1 * *"),
    "yearly": Schedule("year", "0 5 1 1 *"),
}


def period_of(moment: datetime, interval: Interval, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = floor(moment, interval, tz)
    return start, following(start, interval, tz)


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
    """The sections over [start, end) (with ``previous``: also the prior period and growth)."""
    analytics = Analytics(session, org_id)
    declared = sections()
    wanted: dict[str, Entry] = {}
    for entries in declared.values():
        for entry in entries.values():
            if account is not None:
                metric = lookup(entry.metric)
                sources = {m.source for m in [metric] if m.source is not None}
                if any(s.account is None for s in sources) or metric.source is None:
                    continue
            wanted[f"{entry.metric}:{entry.cumulative}"] = entry
    period = [e.metric for e in wanted.values() if not e.cumulative]
    cumulative = [e.metric for e in wanted.values() if e.cumulative]
    totals = (
        await analytics.totals(period, start, end, tz=tz, account=account, compare=previous)
        if period
        else {}
    )
    running = (
        await analytics.totals(
            cumulative, datetime(2000, 1, 1, tzinfo=UTC), end, tz=tz, account=account
        )
        if cumulative
        else {}
    )

    def build(field: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section, entries in declared.items():
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


async def _accounts(
    session: AsyncSession, org_id: str, start: datetime, end: datetime
) -> list[str]:
    rows = await session.scalars(
        select(TrackedEvent.account_id)
        .where(
            TrackedEvent.org_id == org_id,
            TrackedEvent.occurred_at >= start,
            TrackedEvent.occurred_at < end,
            TrackedEvent.account_id.is_not(None),
            TrackedEvent.account_id != "",
        )
        .distinct()
    )
    return sorted(account for account in rows if account)


async def generate(
    session: AsyncSession,
    org: Organization,
    snapshot_type: str,
    moment: datetime,
    *,
    account: str | None = None,
) -> Snapshot:
    """Compute and upsert the ``snapshot_type`` snapshot of the period containing ``moment``."""
    tz = zone(org.timezone)
    schedule = SCHEDULES[snapshot_type]
    start, end = period_of(moment, schedule.interval, tz)
    metrics = await compute(session, org.id, start, end, tz, account=account)
    now = utcnow()
    values = {
        "org_id": org.id,
        "account_id": account or "",
        "date": start.astimezone(tz).date(),
        "snapshot_type": snapshot_type,
        "period_start": start,
        "period_end": end,
        "timezone": org.timezone,
        "metrics": metrics,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert_(Snapshot).values(id=new_id("snap"), **values)
    statement = statement.on_conflict_do_update(
        index_elements=["org_id", "account_id", "period_start", "snapshot_type"],
        set_={"metrics": metrics, "updated_at": now, "timezone": org.timezone, "period_end": end},
    )
    await session.execute(statement)
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


async def generate_all(
    session: AsyncSession, org: Organization, snapshot_type: str, moment: datetime
) -> int:
    """The organization-wide snapshot and one per channel account active in the period."""
    await generate(session, org, snapshot_type, moment)
    tz = zone(org.timezone)
    start, end = period_of(moment, SCHEDULES[snapshot_type].interval, tz)
    accounts = (
        await _accounts(session, org.id, start, end) if TRACKED_EVENTS.account is not None else []
    )
    for account in accounts:
        await generate(session, org, snapshot_type, moment, account=account)
    return 1 + len(accounts)


def due_period(snapshot_type: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """(latest local fire time at or before ``now``, start of the period it reports)."""
    schedule = SCHEDULES[snapshot_type]
    local_now = now.astimezone(tz)
    fire: datetime = croniter(schedule.cron, local_now).get_prev(datetime)
    if croniter.match(schedule.cron, local_now.replace(second=0, microsecond=0)):
        fire = local_now.replace(second=0, microsecond=0)
    current = floor(fire, schedule.interval, tz)
    return fire, floor(current - timedelta(microseconds=1), schedule.interval, tz)


async def run_due(
    session_factory: Any, snapshot_type: str, now: datetime, *, force: bool = False
) -> int:
    """Generate the latest complete period for every organization whose fire time has passed."""
    written = 0
    async with session_factory() as session:
        orgs = list(
            await session.scalars(select(Organization).where(Organization.status == "active"))
        )
    for org in orgs:
        tz = zone(org.timezone)
        fire, period_start = due_period(snapshot_type, now, tz)
        async with session_factory() as session:
            last_written = await session.scalar(
                select(func.max(Snapshot.updated_at)).where(
                    Snapshot.org_id == org.id,
                    Snapshot.account_id == "",
                    Snapshot.snapshot_type == snapshot_type,
                    Snapshot.period_start == period_start,
                )
            )
            if force or last_written is None or last_written < fire:
                written += await generate_all(session, org, snapshot_type, period_start)
                await session.commit()
    return written


async def latest(session: AsyncSession, org_id: str) -> Snapshot | None:
    result: Snapshot | None = await session.scalar(
        select(Snapshot)
        .where(Snapshot.org_id == org_id)
        .order_by(Snapshot.updated_at.desc())
        .limit(1)
    )
    return result


def periods_between(snapshot_type: str, first: date, last: date, tz: ZoneInfo) -> list[datetime]:
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
    return floor(datetime(day.year, day.month, day.day, 12, tzinfo=tz), "day", tz)


async def backfill(
    session_factory: Any,
    snapshot_type: str,
    first: date,
    last: date,
    *,
    org_ids: list[str] | None = None,
    progress: Any = None,
) -> int:
    """Regenerate every period in [first, last] for the given (default all) organizations.

    ``progress(total=n)`` is called once, then ``progress(advance=1)`` per period.
    """
    async with session_factory() as session:
        query = select(Organization).where(Organization.status == "active")
        if org_ids:
            query = query.where(Organization.id.in_(org_ids))
        orgs = list(await session.scalars(query))
    plan = [
        (org, start)
        for org in orgs
        for start in periods_between(snapshot_type, first, last, zone(org.timezone))
    ]
    if progress is not None:
        progress(total=len(plan))
    written = 0
    for org, start in plan:
        async with session_factory() as session:
            written += await generate_all(session, org, snapshot_type, start)
            await session.commit()
        if progress is not None:
            progress(advance=1)
    return written
