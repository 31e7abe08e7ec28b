"""Folding facts into hourly rollups, source by source, behind a watermark.

A fold of one source, in one transaction:

1. W_new = now - lag (the lag covers transactions still open when the fold runs).
2. The (organization, hour) pairs holding a row changed in (W_prev, W_new] are
   dirty; each dirty hour is recomputed whole from the raw facts: its rollup
   rows are deleted and rebuilt (total and one row set per dimension), so a
   late or updated fact lands in its own hour however old.
3. The watermark moves to W_new.

When the declared metrics of a source change (their signature differs), the
source is rebuilt from every raw fact; a new or edited custom metric is
rebuilt for its organization. Rollups outlive raw facts deleted by retention,
so history survives retention; a rebuild can only recompute what raw facts remain.

One organization cannot stop the others: each organization's hours, and each
custom metric, fold in their own savepoint. A failed custom metric records
its error on the definition (``rollup_error``, shown by ``GET
/v1/analytics/metrics`` and ``/v1/analytics/health``) and is read from raw
facts until a fold succeeds; it is tried again when it changes or after
``RETRY_FAILED_AFTER``. A failed organization's hours are touched again, so
they are read raw and refolded by the next run; the run itself then fails,
naming them, after the others are committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import cast

import structlog
from sqlalchemy import (
    Table,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.aggregates import hour_ranges, pack_prefix, place
from commbase.analytics.custom import as_metric, should_retry
from commbase.analytics.folding import fold_range, packs_of, tune_for_folding
from commbase.analytics.models import CustomMetric, MetricRollup, Touch, Watermark
from commbase.analytics.registry import (
    UPGRADABLE_FORMAT,
    Metric,
    Source,
    registered_sources,
    signature,
)
from commbase.analytics.sql import hour_of
from commbase.analytics.windows import complete_windows
from commbase.core.db import Database
from commbase.core.time import utcnow
from commbase.identity.models import Organization

log = structlog.get_logger("commbase.analytics.rollup")

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
RETRY_FAILED_AFTER = timedelta(hours=1)
ERROR_LENGTH = 500
ROLLUPS = cast(
    Table, MetricRollup.__table__
)  # Core inserts: no ORM bookkeeping for millions of rows
# PostgreSQL plans every rollup read from metric_rollups' statistics: never analyzed (a
# first fold, autovacuum off) it expects one row per organization and pack and reads all
# of a pack's rows (224,000 at a million conversations: 300-500 ms a series, not 5 ms).
# A fold whose rows, with those changed since the table's last ANALYZE, reach
# ANALYZE_SHARE of it (twice autovacuum's default threshold: normally autovacuum comes
# first) and at least ANALYZE_MIN_ROWS analyzes it: a first fold, a rebuild, a backfill.
ANALYZE_MIN_ROWS = 10_000
ANALYZE_SHARE = 0.2
_ROLLUP_STATISTICS = text(
    "SELECT c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class c "
    "LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid WHERE c.oid = 'metric_rollups'::regclass"
)


async def _watermark(session: AsyncSession, key: str) -> Watermark:
    query = select(Watermark).where(Watermark.source == key)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    found = await session.scalar(query)
    if found is None:
        found = Watermark(source=key, position=BEGINNING, signature="")
        session.add(found)
        await session.flush()
    return found


async def _fold_range(
    session: AsyncSession, org_id: str, metrics: list[Metric], first_hour: int, last_hour: int
) -> int:
    """Recompute hours [first_hour, last_hour] of ``metrics`` (one source) for one org."""
    return await fold_range(session, org_id, metrics, first_hour, last_hour)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]


@dataclass
class FoldReport:
    """What a fold wrote, and the units that failed (each as "what: error")."""

    written: int = 0
    failures: list[str] = field(default_factory=list)


class FoldIncomplete(Exception):
    """Some organizations' hours could not be folded; the others were committed."""


async def _isolated(
    session: AsyncSession, work: Callable[[], Awaitable[int]]
) -> tuple[int, BaseException | None]:
    """Run ``work`` in a savepoint: its rows, or nothing and the error that undid them."""
    try:
        async with session.begin_nested():
            return await work(), None
    except Exception as exc:
        return 0, exc


async def _record_failure(
    session: AsyncSession, definition_id: str, error: BaseException, now: datetime
) -> None:
    """Mark a custom metric's fold as failed: read raw, tried again later."""
    await session.execute(
        update(CustomMetric)
        .where(CustomMetric.id == definition_id)
        .values(rollup_signature="", rollup_error=_describe(error), rollup_failed_at=now)
    )


async def _rebuild_custom(session: AsyncSession, definition: CustomMetric, now: datetime) -> int:
    metric = as_metric(definition)
    source = metric.source
    assert source is not None
    await session.execute(
        delete(MetricRollup).where(
            MetricRollup.org_id == definition.org_id, MetricRollup.metric == place(metric)[0]
        )
    )
    dialect = session.get_bind().dialect.name
    bounds = (
        await session.execute(
            select(
                func.min(hour_of(source.time, dialect)), func.max(hour_of(source.time, dialect))
            ).where(source.org == definition.org_id, source.base_filter())
        )
    ).one()
    written = 0
    if bounds[0] is not None:
        written = await _fold_range(
            session, definition.org_id, [metric], int(bounds[0]), int(bounds[1])
        )
    await session.execute(
        update(CustomMetric)
        .where(CustomMetric.id == definition.id)
        .values(rollup_signature=signature([metric]), rollup_error=None, rollup_failed_at=None)
    )
    return written


async def _complete_custom(
    session: AsyncSession, definition_id: str, org_id: str, metric: Metric
) -> int:
    """Windows for a custom metric folded before they existed, from its own rows (its
    hours changed since are folded with the source's, as for a current definition)."""
    written = await complete_windows(session, [place(metric)[0]], org_id)
    await session.execute(
        update(CustomMetric)
        .where(CustomMetric.id == definition_id)
        .values(rollup_signature=signature([metric]))
    )
    return written


@dataclass(frozen=True)
class _Custom:
    """A custom definition as the fold needs it (plain values: they outlive a savepoint)."""

    id: str
    org_id: str
    name: str
    metric: Metric | None  # None: the definition cannot be turned into SQL
    error: BaseException | None
    current: bool  # its rollups were built by this definition
    retry: bool
    upgrade: bool = False  # ... before windows existed: complete them, then fold as current


async def _customs(session: AsyncSession, now: datetime) -> list[_Custom]:
    found = []
    for definition in await session.scalars(select(CustomMetric).order_by(CustomMetric.id)):
        metric: Metric | None = None
        error: BaseException | None = None
        try:
            metric = as_metric(definition)
        except Exception as exc:
            error = exc
        current = metric is not None and definition.rollup_signature == signature([metric])
        upgrade = metric is not None and definition.rollup_signature == signature(
            [metric], rollup_format=UPGRADABLE_FORMAT
        )
        retry = should_retry(definition, now=now, after_s=int(RETRY_FAILED_AFTER.total_seconds()))
        found.append(
            _Custom(
                definition.id,
                definition.org_id,
                definition.name,
                metric,
                error,
                current or upgrade,
                retry,
                upgrade,
            )
        )
    return found


async def _fold_customs(
    session: AsyncSession, customs: list[_Custom], report: FoldReport, now: datetime
) -> None:
    """Rebuild every custom metric whose definition changed, and complete those folded
    before windows existed, each in its own savepoint."""
    for item in customs:
        if item.upgrade and item.metric is not None:
            written, error = await _isolated(
                session, partial(_complete_custom, session, item.id, item.org_id, item.metric)
            )
            report.written += written
            if error is not None:
                log.warning(
                    "custom metric fold failed",
                    org_id=item.org_id,
                    metric=item.name,
                    error=str(error),
                )
                await _record_failure(session, item.id, error, now)
            continue
        if item.current or not item.retry:
            continue
        error = item.error
        if error is None:
            definition = await session.get(CustomMetric, item.id)
            if definition is None:
                continue
            written, error = await _isolated(
                session, partial(_rebuild_custom, session, definition, now)
            )
            report.written += written
        if error is not None:
            log.warning(
                "custom metric fold failed", org_id=item.org_id, metric=item.name, error=str(error)
            )
            await _record_failure(session, item.id, error, now)


async def fold_source(
    session: AsyncSession, key: str, declared: list[Metric], *, now: datetime, lag: timedelta
) -> FoldReport:
    """Fold one watermark's source up to ``now - lag``."""
    report = FoldReport()
    await tune_for_folding(session)
    mark = await _watermark(session, key)
    target = now - lag
    current = signature(declared)
    previous = mark.position
    if mark.signature and mark.signature == signature(declared, rollup_format=UPGRADABLE_FORMAT):
        # The same declarations, folded before windows existed: completed in place,
        # the history kept (a rebuild reads only the raw facts retention left).
        report.written += await complete_windows(
            session, list(packs_of(declared, key)), org_id=None
        )
    elif mark.signature != current:
        # New or changed declarations: rebuild every hour from the raw facts. A new
        # watermark (no signature) has no rollups yet: nothing to delete.
        if mark.signature:
            await session.execute(
                delete(MetricRollup).where(MetricRollup.metric.startswith(pack_prefix(key)))
            )
        previous = BEGINNING
    customs: list[_Custom] = []
    if key == "tracked_events":
        customs = await _customs(session, now)
        await _fold_customs(session, customs, report, now)
    if target <= previous and mark.signature == current:
        return report
    source = declared[0].source if declared else None
    if source is not None and target > previous:
        by_org = await _dirty_hours(session, source, key, previous, target)
        for org_id, hours in sorted(by_org.items()):
            ranges = hour_ranges(hours, gap=24)
            written, error = await _isolated(
                session, partial(_fold_org, session, org_id, declared, ranges)
            )
            report.written += written
            if error is not None:
                report.failures.append(f"{key} of {org_id}: {_describe(error)}")
                log.error("rollup fold failed", source=key, org_id=org_id, error=str(error))
                # Read raw until a later fold succeeds, which refolds them.
                retry_at = target + timedelta(microseconds=1)
                session.add_all(
                    Touch(org_id=org_id, source=key, hour=hour, touched_at=retry_at)
                    for hour in sorted(hours)
                )
                continue
            for item in customs:
                # Each custom metric has its own source (its filters), so its own fold.
                # One rebuilt above is complete; one that failed is read raw.
                if item.org_id != org_id or item.metric is None or not item.current:
                    continue
                metric = item.metric
                written, error = await _isolated(
                    session, partial(_fold_org, session, org_id, [metric], ranges)
                )
                report.written += written
                if error is not None:
                    log.warning(
                        "custom metric fold failed",
                        org_id=org_id,
                        metric=item.name,
                        error=str(error),
                    )
                    await _record_failure(session, item.id, error, now)
    # Touches up to the new watermark are folded in; queries only read later ones.
    await session.execute(delete(Touch).where(Touch.source == key, Touch.touched_at <= target))
    mark.position = max(target, previous)
    mark.signature = current
    mark.updated_at = utcnow()
    await session.flush()
    return report


async def _dirty_hours(
    session: AsyncSession, source: Source, key: str, previous: datetime, target: datetime
) -> dict[str, set[int]]:
    """The hours of each organization holding a fact changed or touched in (previous, target].

    A source whose change time is indexed after its organization (``(org_id,
    updated_at)``) is read organization by organization (``org IN (organizations)``),
    each a range of that index; asked of every organization at once, such a read
    scanned the whole table every minute (1.2 s at a million conversations)."""
    dialect = session.get_bind().dialect.name
    changed = [source.changed > previous, source.changed <= target]
    if _org_indexed(source):
        changed.append(source.org.in_(select(Organization.id)))
    dirty = await session.execute(
        select(source.org, hour_of(source.time, dialect).label("hour"))
        .where(*changed)
        .group_by(source.org, "hour")
    )
    by_org: dict[str, set[int]] = defaultdict(set)
    for org_id, hour in dirty:
        by_org[org_id].add(int(hour))
    touched = await session.execute(
        select(Touch.org_id, Touch.hour)
        .where(Touch.source == key, Touch.touched_at > previous, Touch.touched_at <= target)
        .distinct()
    )
    for org_id, hour in touched:
        by_org[org_id].add(int(hour))
    return by_org


def _org_indexed(source: Source) -> bool:
    """Whether an index of the source's table leads with its organization, then its
    change time."""
    org, changed = source.org.expression, source.changed.expression
    indexes = getattr(changed.table, "indexes", ())
    return any(
        [column.name for column in list(index.columns)[:2]] == [org.name, changed.name]
        for index in indexes
    )


async def _fold_org(
    session: AsyncSession, org_id: str, metrics: list[Metric], ranges: list[tuple[int, int]]
) -> int:
    # Hours a day apart or less are refolded in one pass (refolding a clean hour
    # rewrites the same rows): fewer, larger scans.
    written = 0
    for first, last in ranges:
        written += await _fold_range(session, org_id, metrics, first, last)
    return written


async def fold(database: Database, *, now: datetime, lag: timedelta) -> int:
    """Fold every source, each in its own transaction; returns rollup rows written.

    Raises :class:`FoldIncomplete` after committing everything else when some
    organization's hours (or a whole source) could not be folded.
    """
    report = FoldReport()
    for key, declared in registered_sources().items():
        try:
            async with database.sessionmaker() as session:
                part = await fold_source(session, key, declared, now=now, lag=lag)
                await session.commit()
        except Exception as exc:
            log.error("rollup fold failed", source=key, error=str(exc))
            report.failures.append(f"{key}: {_describe(exc)}")
            continue
        report.written += part.written
        report.failures += part.failures
    if report.written and database.dialect == "postgresql":
        try:
            await _analyze_if_stale(database, report.written)
        except Exception as exc:  # the rollups are committed: a slower plan, not a failure
            log.warning("metric_rollups not analyzed", error=str(exc))
    if report.failures:
        raise FoldIncomplete(
            f"{len(report.failures)} unit(s) not folded ({report.written} rows written): "
            + "; ".join(report.failures)
        )
    return report.written


async def _analyze_if_stale(database: Database, written: int) -> bool:
    """ANALYZE metric_rollups when this fold's rows and the changes PostgreSQL counted
    since its last ANALYZE (which may not hold this fold's yet) reach ``ANALYZE_SHARE``
    of its rows and ``ANALYZE_MIN_ROWS``; whether it did."""
    async with database.sessionmaker() as session:
        rows, changed = (await session.execute(_ROLLUP_STATISTICS)).one()
        if written + int(changed) < max(ANALYZE_MIN_ROWS, ANALYZE_SHARE * float(rows)):
            return False
        await session.execute(text("ANALYZE metric_rollups"))
        await session.commit()
    log.info("metric_rollups analyzed", written=written, changed_before=int(changed))
    return True
