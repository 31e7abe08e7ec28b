"""Exact aggregates of registered metrics over any range: sealed rollups plus a live tail.

For each source the engine reads its watermark W, then finds the hours in the
range holding a fact changed after W ("dirty" hours: new facts, late facts,
facts updated since the last fold). Every other whole hour is read from
``metric_rollups``; dirty hours, and hours cut by an interval edge (a range
starting mid-hour, days in Asia/Kolkata starting at :30), are aggregated from
the raw facts. Both parts keep (count, sum), so averages and ratios combine
exactly. The dirty-hour summary is also the cache key's data version: any
change to a fact in range changes it.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.models import MetricRollup, Touch, Watermark
from commbase.analytics.registry import QUARTER, Expr, Metric, Source, declared_signature
from commbase.analytics.sql import (
    EPOCH,
    epoch_seconds,
    hour_number,
    hour_of,
    hour_start,
    interval_index,
    minute_of,
)

# Above this many raw hours a source is aggregated from raw facts over the whole range.
MAX_RAW_HOURS = 4000


@dataclass
class Cell:
    count: int = 0
    sum: float = 0.0

    def add(self, count: int, total: float | None) -> None:
        self.count += int(count or 0)
        self.sum += float(total or 0.0)


# metric -> group -> one cell per piece of the range. The group is None without
# group_by, and with group_by for the facts outside ``Scope.groups`` ("other").
Cells = dict[str, dict[str | None, list[Cell]]]


@dataclass(frozen=True)
class Scope:
    """Whose facts, and which slice of them."""

    org_id: str
    account: str | None = None
    group_by: str | None = None
    where: tuple[str, str] | None = None  # (dimension, value)
    # With group_by: the values kept as their own groups; every other value is
    # counted in one group, None. None here keeps every value.
    groups: tuple[str, ...] | None = None


def kept_groups(value: Any, scope: Scope) -> ColumnElement[Any]:
    """A group column that keeps ``scope.groups`` and turns every other value to NULL."""
    if scope.groups is None:
        kept: ColumnElement[Any] = value
        return kept
    if not scope.groups:
        return literal(None, String)
    return case((value.in_(scope.groups), value), else_=literal(None, String))


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


def _ceil_hour(moment: datetime) -> int:
    hour = hour_number(moment)
    return hour if hour_start(hour) == moment else hour + 1


def hour_ranges(hours: Iterable[int], *, gap: int = 1) -> list[tuple[int, int]]:
    """Sorted hours merged into [first, last] runs; runs less than ``gap`` hours apart join."""
    runs: list[tuple[int, int]] = []
    for hour in sorted(hours):
        if runs and hour - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], hour)
        else:
            runs.append((hour, hour))
    return runs


def count_and_sum(metrics: Iterable[Metric]) -> list[Any]:
    """(count, sum) columns for each metric, in order: what rollups store and raw reads
    add to them. A count counts matching facts; a sum or average counts and adds the
    matching facts whose value is not null."""
    aggregates: list[Any] = []
    for metric in metrics:
        condition = metric.where if metric.where is not None else literal(True)
        if metric.aggregate == "count":
            aggregates += [func.count(case((condition, 1))), literal(0)]
        else:
            assert metric.value is not None
            condition = and_(condition, metric.value.is_not(None))
            aggregates += [
                func.count(case((condition, 1))),
                func.sum(case((condition, metric.value))),
            ]
    return aggregates


# Rollups keep a dimension's value up to this length; raw reads cut it the same way.
MAX_VALUE_LENGTH = 200


def dimension_value(expression: Expr) -> ColumnElement[str]:
    """A dimension's value as a group: text, '' for none, cut as rollups keep it."""
    return func.substr(func.coalesce(cast(expression, String), ""), 1, MAX_VALUE_LENGTH)


def _scoped(
    query: Select[Any],
    source: Source,
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    *,
    time: Any = None,
) -> Select[Any]:
    """Facts of the scope's organization (and account, and filter) with time in [start, end)."""
    time = source.time if time is None else time
    query = query.where(source.org == scope.org_id, source.base_filter())
    if start is not None and end is not None:
        query = query.where(time >= start, time < end)
    if scope.account is not None:
        # A source without channel accounts has no facts in any one account.
        account = source.account if source.account is not None else literal("")
        query = query.where(func.coalesce(account, "") == scope.account)
    if scope.where is not None:
        dimension, value = scope.where
        query = query.where(dimension_value(source.dimensions[dimension]) == value)
    return query


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
        dirty = _scoped(
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
            dirty = _scoped(
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


def _cells(cells: Cells, metric: str, group: str | None, pieces: int) -> list[Cell]:
    found = cells[metric].get(group)
    if found is None:
        found = cells[metric][group] = [Cell() for _ in range(pieces)]
    return found


class _Pieces:
    """Which piece of the range a fact (by its time) or a rollup hour belongs to.

    PostgreSQL answers in SQL (``width_bucket``). SQLite would need a CASE per edge,
    so with many edges it groups by hour (rollups) or minute (raw facts) and the
    piece is found here by bisection; interval edges fall on whole minutes.
    """

    def __init__(self, edges: list[datetime], dialect: str) -> None:
        self.edges = edges
        self.dialect = dialect
        self.hour_edges = [_ceil_hour(edge) for edge in edges]
        interior = edges[1:-1]
        self.minutes = [int((edge - EPOCH).total_seconds() // 60) for edge in interior]
        self.in_sql = (
            dialect == "postgresql"
            or len(edges) <= 32
            or any(edge.second or edge.microsecond for edge in interior)
        )

    def hour_key(self, column: Any) -> Any:
        if self.in_sql:
            return interval_index(column, self.hour_edges, self.dialect, hours=True)
        return column

    def hour_piece(self, value: Any) -> int:
        return int(value) if self.in_sql else bisect_right(self.hour_edges, int(value)) - 1

    def time_key(self, column: Any) -> Any:
        if self.in_sql:
            return interval_index(column, self.edges, self.dialect)
        return minute_of(column, self.dialect)

    def time_piece(self, value: Any) -> int:
        return int(value) if self.in_sql else bisect_right(self.minutes, int(value))


async def execute(session: AsyncSession, plan_: Plan) -> tuple[Cells, Cells]:
    """Run a plan: (cells of rolled-up and raw count/sum metrics, cells of distinct metrics)."""
    dialect = session.get_bind().dialect.name
    edges, scope = plan_.edges, plan_.scope
    pieces = len(edges) - 1
    start, end = edges[0], edges[-1]
    mapper = _Pieces(edges, dialect)
    cells: Cells = {}
    distinct: Cells = {}
    for entry in plan_.sources:
        source = entry.source
        for metric in entry.metrics:
            (distinct if metric.aggregate == "distinct" else cells).setdefault(metric.name, {})
        ready = [] if entry.whole_range_raw else entry.ready
        # 1. Sealed hours from rollups.
        if ready:
            dimension = scope.group_by or (scope.where[0] if scope.where else "")
            index = mapper.hour_key(MetricRollup.hour)
            columns: list[Any] = [MetricRollup.metric, index.label("piece")]
            if scope.group_by:
                columns.append(kept_groups(MetricRollup.value, scope).label("grp"))
            query = select(
                *columns, func.sum(MetricRollup.count), func.sum(MetricRollup.sum)
            ).where(
                MetricRollup.org_id == scope.org_id,
                MetricRollup.metric.in_([m.name for m in ready]),
                MetricRollup.dimension == dimension,
                MetricRollup.hour >= _ceil_hour(start),
                MetricRollup.hour < hour_number(end),
            )
            if scope.where is not None:
                query = query.where(MetricRollup.value == scope.where[1])
            if scope.account is not None:
                query = query.where(MetricRollup.account == scope.account)
            if entry.raw_hours or entry.quarter_hours:
                skipped = sorted(entry.raw_hours | entry.quarter_hours)
                query = query.where(MetricRollup.hour.not_in(skipped))
            query = query.group_by(*columns)
            for row in await session.execute(query):
                group = row[2] if scope.group_by else None
                piece = mapper.hour_piece(row[1])
                if 0 <= piece < pieces:
                    _cells(cells, row[0], group, pieces)[piece].add(row[-2], row[-1])
        # 1b. Hours cut by an edge on a quarter hour, from their quarter-hour totals.
        if ready and entry.quarter_hours:
            await _quarters(session, mapper, ready, entry.quarter_hours, scope, cells)
        # 2. Raw facts: metrics without rollups over the whole range, the others in raw hours.
        ready_names = {m.name for m in ready}
        whole = [m for m in entry.metrics if m.name not in ready_names and m.rolled_up]
        partial = [m for m in entry.metrics if m.name in ready_names]
        raw_ranges = hour_ranges(entry.raw_hours)
        for group_metrics, ranges in ((whole, None), (partial, raw_ranges)):
            if not group_metrics or ranges == []:
                continue
            await _raw(session, mapper, source, group_metrics, scope, ranges, cells)
        distinct_metrics = [m for m in entry.metrics if m.aggregate == "distinct"]
        for metric in distinct_metrics:
            await _raw_distinct(session, dialect, metric, scope, edges, distinct)
    return cells, distinct


def _group_column(source: Source, scope: Scope) -> ColumnElement[Any] | None:
    if scope.group_by is None:
        return None
    return kept_groups(dimension_value(source.dimensions[scope.group_by]), scope)


async def _quarters(
    session: AsyncSession,
    mapper: _Pieces,
    metrics: list[Metric],
    hours: set[int],
    scope: Scope,
    cells: Cells,
) -> None:
    pieces = len(mapper.edges) - 1
    first = int((mapper.edges[0] - EPOCH).total_seconds() // 60)
    stop = int((mapper.edges[-1] - EPOCH).total_seconds() // 60)
    query = select(
        MetricRollup.metric,
        MetricRollup.hour,
        MetricRollup.value,
        func.sum(MetricRollup.count),
        func.sum(MetricRollup.sum),
    ).where(
        MetricRollup.org_id == scope.org_id,
        MetricRollup.metric.in_([m.name for m in metrics]),
        MetricRollup.dimension == QUARTER,
        MetricRollup.value.in_(["0", "1", "2", "3"]),  # lets the key reach `hour`
        MetricRollup.hour.in_(sorted(hours)),
    )
    if scope.account is not None:
        query = query.where(MetricRollup.account == scope.account)
    query = query.group_by(MetricRollup.metric, MetricRollup.hour, MetricRollup.value)
    for metric, hour, quarter, count_, total in await session.execute(query):
        minute = int(hour) * 60 + int(quarter) * 15
        if not first <= minute < stop:  # before `from` or from `to` on (both on quarters)
            continue
        piece = bisect_right(mapper.minutes, minute)
        if 0 <= piece < pieces:
            _cells(cells, metric, None, pieces)[piece].add(count_, total)


async def _raw(
    session: AsyncSession,
    mapper: _Pieces,
    source: Source,
    metrics: list[Metric],
    scope: Scope,
    ranges: list[tuple[int, int]] | None,
    cells: Cells,
) -> None:
    edges = mapper.edges
    pieces = len(edges) - 1
    index = mapper.time_key(source.time).label("piece")
    group = _group_column(source, scope)
    columns: list[Any] = [index] + ([group.label("grp")] if group is not None else [])
    aggregates = count_and_sum(metrics)
    start, end = edges[0], edges[-1]
    if ranges is None:
        query = _scoped(select(*columns, *aggregates), source, scope, start, end)
    else:
        # Only the given hours, clipped to the range: one index range scan each.
        query = _scoped(select(*columns, *aggregates), source, scope, None, None).where(
            or_(
                *(
                    and_(
                        source.time >= max(start, hour_start(first)),
                        source.time < min(end, hour_start(last + 1)),
                    )
                    for first, last in ranges
                )
            )
        )
    query = query.group_by(*columns)
    for row in await session.execute(query):
        piece = mapper.time_piece(row[0])
        if not 0 <= piece < pieces:
            continue
        grp = row[1] if group is not None else None
        offset = 2 if group is not None else 1
        for position, metric in enumerate(metrics):
            count_, total = row[offset + 2 * position], row[offset + 2 * position + 1]
            if count_:
                _cells(cells, metric.name, grp, pieces)[piece].add(count_, total)


async def _raw_distinct(
    session: AsyncSession,
    dialect: str,
    metric: Metric,
    scope: Scope,
    edges: list[datetime],
    cells: Cells,
) -> None:
    source = metric.source
    assert source is not None
    assert metric.value is not None
    pieces = len(edges) - 1
    index = interval_index(source.time, edges, dialect).label("piece")
    group = _group_column(source, scope)
    columns: list[Any] = [index] + ([group.label("grp")] if group is not None else [])
    query = _scoped(
        select(*columns, func.count(func.distinct(metric.value))),
        source,
        scope,
        edges[0],
        edges[-1],
    )
    if metric.where is not None:
        query = query.where(metric.where)
    for row in await session.execute(query.group_by(*columns)):
        piece = int(row[0])
        if 0 <= piece < pieces:
            grp = row[1] if group is not None else None
            _cells(cells, metric.name, grp, pieces)[piece].add(row[-1], 0)
