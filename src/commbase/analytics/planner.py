"""The plan of a read: per source, which hours come from rollups and which from raw facts.

For each source the planner reads its watermark W, then finds the hours in the
range holding a fact changed after W ("dirty" hours: new facts, late facts,
facts updated since the last fold) or deleted since it (touches). Every other
whole hour is read from ``metric_rollups``; dirty hours, and hours cut by an
interval edge (a range starting mid-hour, days in Asia/Kolkata starting at :30),
are aggregated from the raw facts, and so are hours where a grouping's
dimension had too many values to be rolled up (an overflow marker); a clean
hour cut only by edges on quarter hours is read from its quarter-hour rollups
instead (without a grouping or filter). A source with no usable rollups, read
by a dimension it does not roll up (``Source.unrolled``), or with too many raw
hours, is read raw over the whole range. The dirty-hour summary is also the plan's fingerprint, the
cache key's data version: any change to a fact in range changes it.
``query.execute`` runs the plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.aggregates import overflow_dimension, place
from commbase.analytics.models import MetricRollup, Touch, Watermark
from commbase.analytics.registry import Metric, Source, declared_signature
from commbase.analytics.scope import Scope, scoped
from commbase.analytics.sql import epoch_seconds, hour_number, hour_of, hour_start

# Above this many raw hours a source is aggregated from raw facts over the whole range.
MAX_RAW_HOURS = 4000


@dataclass
class _SourcePlan:
    source: Source
    metrics: list[Metric]
    ready: list[Metric]  # rollups exist for these, built by their current definition
    raw_hours: set[int] = field(default_factory=set)
    quarter_hours: set[int] = field(default_factory=set)  # cut by an edge; quarter rollups
    whole_range_raw: bool = False


@dataclass
class Plan:
    scope: Scope
    edges: list[datetime]
    sources: list[_SourcePlan]
    fingerprint: str


async def rollup_state(session: AsyncSession) -> dict[str, tuple[datetime, str]]:
    rows = await session.execute(select(Watermark.source, Watermark.position, Watermark.signature))
    return {source: (position, sig) for source, position, sig in rows}


def _ready(
    metrics: list[Metric], state: Mapping[str, tuple[datetime, str]], custom_ready: set[str]
) -> list[Metric]:
    ready = []
    for metric in metrics:
        if not metric.rolled_up or metric.source is None:
            continue
        key = metric.source.watermark_key
        if key not in state:
            continue
        if metric.org_id is not None:
            if metric.name in custom_ready:
                ready.append(metric)
        elif state[key][1] == declared_signature(key):
            ready.append(metric)
    return ready


async def plan(
    session: AsyncSession,
    metrics: Iterable[Metric],
    edges: list[datetime],
    scope: Scope,
    *,
    custom_ready: set[str] | frozenset[str] = frozenset(),
    use_rollups: bool = True,
    state: Mapping[str, tuple[datetime, str]] | None = None,
) -> Plan:
    """Decide, per source, which hours come from rollups and which from raw facts."""
    dialect = session.get_bind().dialect.name
    start, end = edges[0], edges[-1]
    # Several plans of one request share one read of the watermarks (``state``).
    if not use_rollups:
        state = {}
    elif state is None:
        state = await rollup_state(session)
    by_source: dict[int, _SourcePlan] = {}
    for metric in metrics:
        assert metric.source is not None
        entry = by_source.setdefault(id(metric.source), _SourcePlan(metric.source, [], []))
        if metric not in entry.metrics:
            entry.metrics.append(metric)

    split: set[int] = set()
    off_quarter: set[int] = set()  # hours cut by an edge that is not on a quarter hour
    for edge in edges:
        hour = hour_number(edge)
        if hour_start(hour) != edge:
            split.add(hour)
            if edge.minute % 15 or edge.second or edge.microsecond:
                off_quarter.add(hour)
    versions: list[Any] = []
    for entry in by_source.values():
        source = entry.source
        entry.ready = _ready(entry.metrics, state, set(custom_ready)) if use_rollups else []
        if scope.where is not None and scope.group_by is not None:
            entry.ready = []  # rollups hold one dimension at a time
        dimension = scope.group_by or (scope.where[0] if scope.where else "")
        if dimension in source.unrolled:
            entry.ready = []  # a high-cardinality dimension: read raw
        if not entry.ready:
            entry.whole_range_raw = True
            # Raw results still need a data version for the cache key.
        watermark = state.get(source.watermark_key, (None, ""))[0]
        changed_since = source.changed > watermark if watermark is not None else literal(True)
        # Few rows changed since the watermark: SQLite must find them by the change
        # index, not scan the range by the time index (PostgreSQL's planner knows).
        time_bound = (
            func.coalesce(source.time, source.time)
            if dialect == "sqlite" and source.changed is not source.time
            else None
        )
        dirty = scoped(
            select(
                hour_of(source.time, dialect).label("hour"),
                func.count(),
                func.max(source.changed),
                func.sum(epoch_seconds(source.changed, dialect)),
            ),
            source,
            scope,
            start,
            end,
            time=time_bound,
        ).where(changed_since)
        if entry.whole_range_raw:
            # No rollups: the version is the whole range's, one row.
            dirty = scoped(
                select(
                    literal(-1).label("hour"),
                    func.count(),
                    func.max(source.changed),
                    func.sum(epoch_seconds(source.changed, dialect)),
                ),
                source,
                scope,
                start,
                end,
            )
        else:
            dirty = dirty.group_by("hour")
        rows = (await session.execute(dirty)).all()
        dirty_hours = {int(row[0]) for row in rows if row[1]}
        first, last = hour_number(start), hour_number(end)
        if not entry.whole_range_raw and watermark is not None:
            # Hours whose facts were deleted since the fold: raw until refolded.
            touched = await session.execute(
                select(Touch.hour, func.count(), func.max(Touch.touched_at))
                .where(
                    Touch.org_id == scope.org_id,
                    Touch.source == source.watermark_key,
                    Touch.touched_at > watermark,
                    Touch.hour >= first,
                    Touch.hour <= last,
                )
                .group_by(Touch.hour)
            )
            for hour, count_, latest in touched:
                dirty_hours.add(int(hour))
                rows.append((-int(hour) - 2, count_, latest, 0.0))
        if entry.ready and dimension:
            # Hours where the dimension had too many values to be rolled up.
            overflowed = await session.scalars(
                select(MetricRollup.hour)
                .where(
                    MetricRollup.org_id == scope.org_id,
                    MetricRollup.metric.in_(sorted({place(m)[0] for m in entry.ready})),
                    MetricRollup.dimension == overflow_dimension(dimension),
                    MetricRollup.hour >= first,
                    MetricRollup.hour <= last,
                )
                .distinct()
            )
            dirty_hours.update(int(hour) for hour in overflowed)
        versions.append(
            [
                source.name,
                [m.name for m in entry.metrics],
                [m.name for m in entry.ready],
                str(watermark),
                sorted((int(r[0]), int(r[1]), str(r[2]), float(r[3] or 0)) for r in rows),
            ]
        )
        quarters = set()
        if entry.ready and scope.group_by is None and scope.where is None:
            quarters = split - off_quarter - dirty_hours
        raw_hours = {hour for hour in dirty_hours | (split - quarters) if first <= hour <= last}
        entry.quarter_hours = quarters
        if len(raw_hours) > MAX_RAW_HOURS:
            entry.whole_range_raw = True
        entry.raw_hours = raw_hours
    fingerprint = hashlib.sha256(
        orjson.dumps([versions, [e.isoformat() for e in edges]], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    return Plan(scope, edges, list(by_source.values()), fingerprint)
