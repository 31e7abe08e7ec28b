"""Exact aggregates of registered metrics over any range: sealed rollups plus a live tail.

``execute`` runs a plan (``planner.py``) into cells, one (count, sum) per metric,
group and piece of the range: whole sealed hours from ``metric_rollups``, hours
cut by an edge on a quarter hour from their quarter-hour rollups, and raw facts
for dirty hours, other cut hours and metrics without rollups. Both parts keep
(count, sum), so averages and ratios combine exactly. Distinct counts do not add
up across hours and are always counted from the raw facts.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.aggregates import count_and_sum, dimension_value, hour_ranges, place
from commbase.analytics.models import MetricRollup
from commbase.analytics.planner import Plan
from commbase.analytics.registry import QUARTER, Metric, Source
from commbase.analytics.scope import Scope, kept_groups, scoped
from commbase.analytics.sql import (
    EPOCH,
    hour_number,
    hour_start,
    interval_index,
    minute_of,
    number_at,
)


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


def _ceil_hour(moment: datetime) -> int:
    hour = hour_number(moment)
    return hour if hour_start(hour) == moment else hour + 1


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
    mapper = _Pieces(edges, dialect)
    cells: Cells = {}
    distinct: Cells = {}
    for entry in plan_.sources:
        source = entry.source
        for metric in entry.metrics:
            (distinct if metric.aggregate == "distinct" else cells).setdefault(metric.name, {})
        ready = [] if entry.whole_range_raw else entry.ready
        # 1. Sealed hours from rollups, 1b. hours cut by an edge on a quarter hour
        # from their quarter-hour totals.
        for pack, members in _by_pack(ready).items():
            await _rolled(session, mapper, pack, members, entry, scope, cells)
            if entry.quarter_hours:
                await _quarters(session, mapper, pack, members, entry.quarter_hours, scope, cells)
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


def _by_pack(metrics: list[Metric]) -> dict[str, list[tuple[Metric, int]]]:
    packs: dict[str, list[tuple[Metric, int]]] = {}
    for metric in metrics:
        pack, position = place(metric)
        packs.setdefault(pack, []).append((metric, position))
    return packs


def _sums(members: list[tuple[Metric, int]]) -> list[Any]:
    columns: list[Any] = []
    for _, position in members:
        columns += [
            func.sum(number_at(MetricRollup.totals, position)),
            func.sum(number_at(MetricRollup.totals, position + 1)),
        ]
    return columns


def _add(
    cells: Cells,
    members: list[tuple[Metric, int]],
    group: str | None,
    piece: int,
    pieces: int,
    values: Any,
) -> None:
    for number, (metric, _) in enumerate(members):
        count_, total = values[2 * number], values[2 * number + 1]
        if count_:
            _cells(cells, metric.name, group, pieces)[piece].add(count_, total)


async def _rolled(
    session: AsyncSession,
    mapper: _Pieces,
    pack: str,
    members: list[tuple[Metric, int]],
    entry: Any,
    scope: Scope,
    cells: Cells,
) -> None:
    pieces = len(mapper.edges) - 1
    start, end = mapper.edges[0], mapper.edges[-1]
    dimension = scope.group_by or (scope.where[0] if scope.where else "")
    index = mapper.hour_key(MetricRollup.hour)
    columns: list[Any] = [index.label("piece")]
    if scope.group_by:
        columns.append(kept_groups(MetricRollup.value, scope).label("grp"))
    query = select(*columns, *_sums(members)).where(
        MetricRollup.org_id == scope.org_id,
        MetricRollup.metric == pack,
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
        group = row[1] if scope.group_by else None
        piece = mapper.hour_piece(row[0])
        if 0 <= piece < pieces:
            _add(cells, members, group, piece, pieces, row[len(columns) :])


async def _quarters(
    session: AsyncSession,
    mapper: _Pieces,
    pack: str,
    members: list[tuple[Metric, int]],
    hours: set[int],
    scope: Scope,
    cells: Cells,
) -> None:
    pieces = len(mapper.edges) - 1
    first = int((mapper.edges[0] - EPOCH).total_seconds() // 60)
    stop = int((mapper.edges[-1] - EPOCH).total_seconds() // 60)
    query = select(MetricRollup.hour, MetricRollup.value, *_sums(members)).where(
        MetricRollup.org_id == scope.org_id,
        MetricRollup.metric == pack,
        MetricRollup.dimension == QUARTER,
        MetricRollup.hour.in_(sorted(hours)),
    )
    if scope.account is not None:
        query = query.where(MetricRollup.account == scope.account)
    query = query.group_by(MetricRollup.hour, MetricRollup.value)
    for row in await session.execute(query):
        minute = int(row[0]) * 60 + int(row[1]) * 15
        if not first <= minute < stop:  # before `from` or from `to` on (both on quarters)
            continue
        piece = bisect_right(mapper.minutes, minute)
        if 0 <= piece < pieces:
            _add(cells, members, None, piece, pieces, row[2:])


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
        query = scoped(select(*columns, *aggregates), source, scope, start, end)
    else:
        # Only the given hours, clipped to the range: one index range scan each.
        query = scoped(select(*columns, *aggregates), source, scope, None, None).where(
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
    query = scoped(
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
