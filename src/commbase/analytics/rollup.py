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
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.custom import as_metric, metric_signature
from commbase.analytics.models import CustomMetric, MetricRollup, Touch, Watermark
from commbase.analytics.query import count_and_sum, dimension_value, hour_ranges
from commbase.analytics.registry import QUARTER, Metric, Source, registered_sources, signature
from commbase.analytics.sql import hour_of, hour_start, quarter_of
from commbase.core.db import Database, rowcount
from commbase.core.time import utcnow

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
ROLLUPS = cast(
    Table, MetricRollup.__table__
)  # Core inserts: no ORM bookkeeping for millions of rows


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
    session: AsyncSession,
    org_id: str,
    metrics: list[Metric],
    first_hour: int,
    last_hour: int,
) -> int:
    """Recompute hours [first_hour, last_hour] of ``metrics`` (one source) for one org."""
    if not metrics:
        return 0
    dialect = session.get_bind().dialect.name
    source: Source = metrics[0].source  # type: ignore[assignment]
    await session.execute(
        delete(MetricRollup).where(
            MetricRollup.org_id == org_id,
            MetricRollup.metric.in_([m.name for m in metrics]),
            MetricRollup.hour >= first_hour,
            MetricRollup.hour <= last_hour,
        )
    )
    start, end = hour_start(first_hour), hour_start(last_hour + 1)
    hour = hour_of(source.time, dialect).label("hour")
    account = func.coalesce(source.account if source.account is not None else literal(""), "")
    aggregates = count_and_sum(metrics)
    written = 0
    dimensions: list[tuple[str, Any]] = [
        ("", None),
        (QUARTER, quarter_of(source.time, dialect)),
        *source.dimensions.items(),
    ]
    for dimension, expression in dimensions:
        value = dimension_value(expression) if expression is not None else literal("")
        # Group once, then unpivot one row per metric, all inside the database.
        grouped = (
            select(
                hour,
                account.label("account"),
                func.substr(value, 1, 200).label("value"),
                *(
                    aggregate.label(f"{kind}{position}")
                    for position, pair in enumerate(
                        zip(aggregates[::2], aggregates[1::2], strict=True)
                    )
                    for kind, aggregate in zip(("c", "s"), pair, strict=True)
                ),
            )
            .where(
                source.org == org_id,
                source.base_filter(),
                source.time >= start,
                source.time < end,
            )
            .group_by(hour, account, value)
            .cte("grouped")
        )
        branches = [
            select(
                literal(org_id),
                literal(metric.name),
                literal(dimension),
                grouped.c.value,
                grouped.c.hour,
                grouped.c.account,
                grouped.c[f"c{position}"],
                func.coalesce(grouped.c[f"s{position}"], 0.0),
            ).where(grouped.c[f"c{position}"] > 0)
            for position, metric in enumerate(metrics)
        ]
        statement = insert(ROLLUPS).from_select(
            ["org_id", "metric", "dimension", "value", "hour", "account", "count", "sum"],
            union_all(*branches) if len(branches) > 1 else branches[0],
        )
        result = await session.execute(statement)
        written += max(rowcount(result), 0)
    return written


async def _rebuild_custom(session: AsyncSession, definition: CustomMetric, until: datetime) -> int:
    metric = as_metric(definition)
    source = metric.source
    assert source is not None
    await session.execute(
        delete(MetricRollup).where(
            MetricRollup.org_id == definition.org_id, MetricRollup.metric == metric.name
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
    definition.rollup_signature = signature([metric])
    return written


async def fold_source(
    session: AsyncSession, key: str, declared: list[Metric], *, now: datetime, lag: timedelta
) -> int:
    """Fold one watermark's source up to ``now - lag``; returns rollup rows written."""
    mark = await _watermark(session, key)
    target = now - lag
    current = signature(declared)
    previous = mark.position
    written = 0
    if mark.signature != current:
        # New or changed declarations: rebuild every hour from the raw facts.
        await session.execute(
            delete(MetricRollup).where(MetricRollup.metric.in_([m.name for m in declared]))
        )
        previous = BEGINNING
    customs: list[CustomMetric] = []
    if key == "tracked_events":
        customs = list(await session.scalars(select(CustomMetric)))
        for definition in customs:
            if definition.rollup_signature != metric_signature(definition):
                written += await _rebuild_custom(session, definition, target)
    if target <= previous and mark.signature == current:
        return written
    source = declared[0].source if declared else None
    if source is not None and target > previous:
        dialect = session.get_bind().dialect.name
        dirty = await session.execute(
            select(source.org, hour_of(source.time, dialect).label("hour"))
            .where(source.changed > previous, source.changed <= target)
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
        custom_by_org: dict[str, list[Metric]] = defaultdict(list)
        for definition in customs:
            custom_by_org[definition.org_id].append(as_metric(definition))
        for org_id, hours in by_org.items():
            # Hours a day apart or less are refolded in one pass (refolding a clean
            # hour rewrites the same rows): fewer, larger scans.
            for first, last in hour_ranges(hours, gap=24):
                written += await _fold_range(session, org_id, declared, first, last)
                # Each custom metric has its own source (its filters), so its own fold.
                for metric in custom_by_org.get(org_id, []):
                    written += await _fold_range(session, org_id, [metric], first, last)
    # Touches up to the new watermark are folded in; queries only read later ones.
    await session.execute(delete(Touch).where(Touch.source == key, Touch.touched_at <= target))
    mark.position = max(target, previous)
    mark.signature = current
    mark.updated_at = utcnow()
    return written


async def fold(database: Database, *, now: datetime, lag: timedelta) -> int:
    """Fold every source, each in its own transaction."""
    written = 0
    for key, declared in registered_sources().items():
        async with database.sessionmaker() as session:
            written += await fold_source(session, key, declared, now=now, lag=lag)
            await session.commit()
    return written


async def mark_custom_stale(session: AsyncSession, definition: CustomMetric) -> None:
    """Drop a custom metric's rollups (its definition changed or it is deleted)."""
    await session.execute(
        delete(MetricRollup).where(
            MetricRollup.org_id == definition.org_id,
            MetricRollup.metric == "custom." + definition.name,
        )
    )
    await session.execute(
        update(CustomMetric)
        .where(CustomMetric.id == definition.id)
        .values(rollup_signature="", updated_at=utcnow())
    )
