"""Exact aggregates of registered metrics over any range: sealed rollups plus a live tail.

``execute`` runs a plan (``planner.py``) into cells, one (count, sum) per metric,
group and piece of the range: whole sealed hours from ``metric_rollups``, summed
by piece in SQL; the clean quarters of hours cut by an edge on a quarter hour or
holding a dirty quarter from their quarter-hour rollups; raw facts for dirty
quarters, other raw hours and metrics without rollups. A read of totals (no
grouping or filter) with a piece as long as a day takes each 24-hour run of a
piece holding nothing read raw from one window row (``windows.py``) instead of its
hours and quarters. Every part keeps (count, sum), so averages and ratios combine
exactly. Distinct counts do not add up
across hours and are always counted from the raw facts. On PostgreSQL reads
without a grouping run statements built once per shape (``prepared.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import prepared
from commbase.analytics.aggregates import count_and_sum, dimension_value, hour_ranges, place
from commbase.analytics.models import MetricRollup
from commbase.analytics.pieces import Pieces, ceil_hour
from commbase.analytics.planner import Plan
from commbase.analytics.registry import QUARTER, Metric, Source
from commbase.analytics.scope import Scope, kept_groups, scoped
from commbase.analytics.sql import (
    hour_number,
    interval_index,
    quarter_start,
)
from commbase.analytics.windows import DAY, WINDOW, Cover, cover
from commbase.core.plans import custom_plans


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


def _cells(cells: Cells, metric: str, group: str | None, pieces: int) -> list[Cell]:
    found = cells[metric].get(group)
    if found is None:
        found = cells[metric][group] = [Cell() for _ in range(pieces)]
    return found


async def execute(session: AsyncSession, plan_: Plan) -> tuple[Cells, Cells]:
    """Run a plan: (cells of rolled-up and raw count/sum metrics, cells of distinct metrics)."""
    await custom_plans(session)  # each statement planned for its ranges (core.plans)
    dialect = session.get_bind().dialect.name
    edges, scope = plan_.edges, plan_.scope
    mapper = Pieces(edges, dialect)
    cells: Cells = {}
    distinct: Cells = {}
    for entry in plan_.sources:
        source = entry.source
        for metric in entry.metrics:
            (distinct if metric.aggregate == "distinct" else cells).setdefault(metric.name, {})
        ready = [] if entry.whole_range_raw else entry.ready
        # 1. Sealed hours from rollups, and in the same statement the clean quarters of
        # hours cut by an edge on a quarter hour or holding a dirty quarter.
        dimension = scope.group_by or (scope.where[0] if scope.where else "")
        covered = _cover(mapper, dimension, entry) if ready else None
        for pack, members in _by_pack(ready).items():
            await _rolled(session, mapper, pack, members, entry, scope, cells, covered)
        # 2. Raw facts: metrics without rollups over the whole range, the others in raw
        # hours and raw (dirty) quarters, as runs of quarter hours.
        ready_names = {m.name for m in ready}
        whole = [m for m in entry.metrics if m.name not in ready_names and m.rolled_up]
        partial = [m for m in entry.metrics if m.name in ready_names]
        raw_units = {4 * hour + q for hour in entry.raw_hours for q in range(4)}
        raw_ranges = hour_ranges(raw_units | entry.raw_quarters)
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
    return prepared.sums([position for _, position in members])


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


def _matching(column: Any, values: list[int], dialect: str, *, negate: bool = False) -> Any:
    """``column`` in (or not in) ``values``: one array parameter on PostgreSQL, so the
    statement's text does not change with the number of values."""
    if dialect == "postgresql":
        array = literal(values, ARRAY(BigInteger))
        return column != func.all(array) if negate else column == func.any(array)
    return column.not_in(values) if negate else column.in_(values)


def _cover(mapper: Pieces, dimension: str, entry: Any) -> Cover | None:
    """The windows, hour rows and quarter-hour rows of a read of totals
    (``windows.cover``), or None to read as before: by a dimension, or no piece as long
    as a day."""
    edges = mapper.quarter_edges
    if dimension or all(high - low < DAY for low, high in pairwise(edges)):
        return None
    first, stop = ceil_hour(mapper.edges[0]), hour_number(mapper.edges[-1])
    skipped = entry.raw_hours | entry.quarter_hours
    return cover(edges, first, stop, skipped, entry.quarter_hours, entry.raw_quarters)


def _covered_statements(
    mapper: Pieces, pack: str, members: list[tuple[Metric, int]], scope: Scope, covered: Cover
) -> list[tuple[int, Any, dict[str, Any] | None]]:
    """``_rolled_statements`` for a cover: its hour rows by hour piece, its quarter-hour
    rows and windows by quarter piece."""
    dialect = mapper.dialect
    rows = select().where(MetricRollup.org_id == scope.org_id, MetricRollup.metric == pack)
    if scope.account is not None:
        rows = rows.where(MetricRollup.account == scope.account)
    statements: list[tuple[int, Any, dict[str, Any] | None]] = []
    if covered.hours:
        index = mapper.hour_key(MetricRollup.hour).label("piece")
        hours = rows.add_columns(index, *_sums(members)).where(
            MetricRollup.dimension == "", _matching(MetricRollup.hour, covered.hours, dialect)
        )
        statements.append((0, hours.group_by(index), None))
    if covered.quarters:
        quarter = prepared.row_quarter()
        index = mapper.quarter_key(quarter).label("piece")
        quarters = rows.add_columns(index, *_sums(members)).where(
            MetricRollup.dimension == QUARTER,
            _matching(MetricRollup.hour, sorted({q // 4 for q in covered.quarters}), dialect),
            _matching(quarter, covered.quarters, dialect),
        )
        statements.append((1, quarters.group_by(index), None))
    if covered.windows:
        index = mapper.quarter_key(MetricRollup.hour).label("piece")
        windows = rows.add_columns(index, *_sums(members)).where(
            MetricRollup.dimension == WINDOW, _matching(MetricRollup.hour, covered.windows, dialect)
        )
        statements.append((1, windows.group_by(index), None))
    return statements


def _rolled_statements(
    mapper: Pieces,
    pack: str,
    members: list[tuple[Metric, int]],
    entry: Any,
    scope: Scope,
    dimension: str,
    skipped: list[int],
    covered: Cover | None,
) -> list[tuple[int, Any, dict[str, Any] | None]]:
    """The statements of ``_rolled`` built for one read (SQLite, or with a grouping)."""
    if covered is not None:
        return _covered_statements(mapper, pack, members, scope, covered)
    start, end = mapper.edges[0], mapper.edges[-1]
    dialect = mapper.dialect
    index = mapper.hour_key(MetricRollup.hour).label("piece")
    keys: list[Any] = [index]
    if scope.group_by:
        keys.append(kept_groups(MetricRollup.value, scope).label("grp"))
    query = select(*keys, *_sums(members)).where(
        MetricRollup.org_id == scope.org_id,
        MetricRollup.metric == pack,
        MetricRollup.dimension == dimension,
        MetricRollup.hour >= ceil_hour(start),
        MetricRollup.hour < hour_number(end),
    )
    if scope.where is not None:
        query = query.where(MetricRollup.value == scope.where[1])
    if scope.account is not None:
        query = query.where(MetricRollup.account == scope.account)
    if skipped:
        query = query.where(_matching(MetricRollup.hour, skipped, dialect, negate=True))
    statements: list[tuple[int, Any, dict[str, Any] | None]] = [(0, query.group_by(*keys), None)]
    if entry.quarter_hours:
        quarter = prepared.row_quarter()
        qindex = mapper.quarter_key(quarter).label("piece")
        quarters = select(qindex, *_sums(members)).where(
            MetricRollup.org_id == scope.org_id,
            MetricRollup.metric == pack,
            MetricRollup.dimension == QUARTER,
            _matching(MetricRollup.hour, sorted(entry.quarter_hours), dialect),
        )
        if scope.account is not None:
            quarters = quarters.where(MetricRollup.account == scope.account)
        if entry.raw_quarters:
            raw = sorted(entry.raw_quarters)
            quarters = quarters.where(_matching(quarter, raw, dialect, negate=True))
        statements.append((1, quarters.group_by(qindex), None))
    return statements


async def _rolled(
    session: AsyncSession,
    mapper: Pieces,
    pack: str,
    members: list[tuple[Metric, int]],
    entry: Any,
    scope: Scope,
    cells: Cells,
    covered: Cover | None,
) -> None:
    """Sealed hours of one pack by piece, then the quarter hours it reads by piece (or
    the rows of ``covered``, a cover of the entry's sealed hours by windows)."""
    pieces = len(mapper.edges) - 1
    start, end = mapper.edges[0], mapper.edges[-1]
    dialect = mapper.dialect
    dimension = scope.group_by or (scope.where[0] if scope.where else "")
    skipped = sorted(entry.raw_hours | entry.quarter_hours)
    statements: list[tuple[int, Any, dict[str, Any] | None]] = []
    if dialect == "postgresql" and not scope.group_by:
        positions = tuple(position for _, position in members)
        params: dict[str, Any] = {
            "org": scope.org_id,
            "pack": pack,
            "dimension": dimension,
            "first": ceil_hour(start),
            "stop": hour_number(end),
            "edges": mapper.hour_edges,
        }
        if scope.where is not None:
            params["value"] = scope.where[1]
        if scope.account is not None:
            params["account"] = scope.account
        if skipped:
            params["skipped"] = skipped
        if covered is not None:
            params["hours"], params["windows"] = covered.hours, covered.windows
            params["quarters"] = covered.quarters
            params["quarter_hours"] = sorted({quarter // 4 for quarter in covered.quarters})
            params["quarter_edges"] = mapper.quarter_edges
        elif entry.quarter_hours:
            params["hours"] = sorted(entry.quarter_hours)
            params["quarter_edges"] = mapper.quarter_edges
            if entry.raw_quarters:
                params["raw"] = sorted(entry.raw_quarters)
        if covered is not None:
            parts = (bool(covered.hours), bool(covered.quarters), bool(covered.windows))
            if any(parts):  # else every hour of the range is read raw
                statement = prepared.covered_by_piece(
                    positions, account=scope.account is not None, parts=parts
                )
                statements.append((0, statement, params))
        elif entry.quarter_hours:
            # Only without a grouping or filter (the planner's rule): dimension ''.
            # One statement, not a UNION ALL of the two reads: PostgreSQL plans that as
            # a Parallel Append, whose workers take longer to start than both reads take.
            both = prepared.rollups_by_piece(
                positions,
                account=scope.account is not None,
                skipped=bool(skipped),
                raw=bool(entry.raw_quarters),
            )
            statements.append((0, both, params))
        else:
            hourly = prepared.hours_by_piece(
                positions,
                value=scope.where is not None,
                account=scope.account is not None,
                skipped=bool(skipped),
            )
            statements.append((0, hourly, params))
    else:
        statements = _rolled_statements(
            mapper, pack, members, entry, scope, dimension, skipped, covered
        )
    keys = 2 if scope.group_by else 1  # piece (and group) columns before the sums
    for kind, statement, values in statements:
        offset = keys if kind == 0 else 1
        for row in (await session.execute(statement, values)).all():
            piece = mapper.hour_piece(row[0]) if kind == 0 else mapper.quarter_piece(row[0])
            if 0 <= piece < pieces:
                group = row[1] if kind == 0 and scope.group_by else None
                _add(cells, members, group, piece, pieces, row[offset:])


def _spans(
    ranges: list[tuple[int, int]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Runs of quarter hours as time ranges clipped to [start, end)."""
    return [
        (max(start, quarter_start(first)), min(end, quarter_start(last + 1)))
        for first, last in ranges
    ]


def _add_raw(
    cells: Cells, metrics: list[Metric], group: str | None, piece: int, pieces: int, values: Any
) -> None:
    for position, metric in enumerate(metrics):
        count_, total = values[2 * position], values[2 * position + 1]
        if count_:
            _cells(cells, metric.name, group, pieces)[piece].add(count_, total)


async def _raw(
    session: AsyncSession,
    mapper: Pieces,
    source: Source,
    metrics: list[Metric],
    scope: Scope,
    ranges: list[tuple[int, int]] | None,
    cells: Cells,
) -> None:
    edges = mapper.edges
    pieces = len(edges) - 1
    start, end = edges[0], edges[-1]
    plain = scope.group_by is None and scope.account is None and scope.where is None
    if mapper.dialect == "postgresql" and plain:
        spans = [(start, end)] if ranges is None else _spans(ranges, start, end)
        statement = prepared.raw_by_piece(tuple(metrics), len(spans))
        if statement is not None:
            params: dict[str, Any] = {"org": scope.org_id, "edges": edges}
            for number, (low, high) in enumerate(spans):
                params[f"s{number}"], params[f"e{number}"] = low, high
            for row in (await session.execute(statement, params)).all():
                piece = int(row[0])
                if 0 <= piece < pieces:
                    _add_raw(cells, metrics, None, piece, pieces, row[1:])
            return
    index = mapper.time_key(source.time).label("piece")
    group = _group_column(source, scope)
    columns: list[Any] = [index] + ([group.label("grp")] if group is not None else [])
    aggregates = count_and_sum(metrics)
    if ranges is None:
        query = scoped(select(*columns, *aggregates), source, scope, start, end)
    else:
        # Only the given hours, clipped to the range: one index range scan each.
        query = scoped(select(*columns, *aggregates), source, scope, None, None).where(
            or_(
                *(
                    and_(
                        source.time >= low,
                        source.time < high,
                    )
                    for low, high in _spans(ranges, start, end)
                )
            )
        )
    query = query.group_by(*columns)
    for row in await session.execute(query):
        piece = mapper.time_piece(row[0])
        if not 0 <= piece < pieces:
            continue
        grp = row[1] if group is not None else None
        _add_raw(cells, metrics, grp, piece, pieces, row[2 if group is not None else 1 :])


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
