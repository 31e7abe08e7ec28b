"""Series and totals of metrics for one organization: the engine every analytics read uses.

A series is bounded: at most ``MAX_METRICS`` metrics, and at most
``MAX_SERIES_VALUES`` values in all (series x points), refused with a 422
before anything is read. Split by a dimension, a series keeps the
``group_limit`` groups with the largest total of its first metric over the
range (ties by name, ``DEFAULT_GROUP_LIMIT``, at most ``MAX_GROUP_LIMIT``);
every other value is added up in one more group, ``other``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import custom, planner, query
from commbase.analytics.calculations import growth_rate
from commbase.analytics.enums import Aggregate, Interval
from commbase.analytics.periods import boundaries
from commbase.analytics.planner import Plan
from commbase.analytics.query import Cell, Cells
from commbase.analytics.registry import Metric, base_metrics, check_dimension, lookup
from commbase.analytics.scope import Scope
from commbase.core.cache import Cache
from commbase.core.errors import Conflict, invalid

MAX_METRICS = 20
DEFAULT_GROUP_LIMIT = 10
MAX_GROUP_LIMIT = 100
MAX_SERIES_VALUES = 100_000  # series x points in one answer


@dataclass(frozen=True)
class SeriesSpec:
    metrics: tuple[str, ...]
    interval: Interval
    start: datetime
    end: datetime
    tz: ZoneInfo
    account: str | None = None
    group_by: str | None = None
    where: tuple[str, str] | None = None
    compare: bool = True  # also the previous period of equal length
    group_limit: int = DEFAULT_GROUP_LIMIT  # with group_by: groups kept, the rest is "other"


def _round(value: float, digits: int) -> float | int:
    rounded = round(value, digits)
    return int(rounded) if float(rounded).is_integer() else rounded


def value_of(metric: Metric, cells: Mapping[str, Cell], extra: Mapping[str, Metric]) -> float | int:
    """A metric's value from its base metrics' (count, sum) cells."""
    if metric.aggregate == Aggregate.RATIO:
        assert metric.numerator
        assert metric.denominator
        numerator = value_of(lookup(metric.numerator, extra), cells, extra)
        denominator = value_of(lookup(metric.denominator, extra), cells, extra)
        if not denominator:
            return 0
        return _round(numerator / denominator * (100 if metric.percent else 1), 2)
    cell = cells.get(metric.name, Cell())
    if metric.aggregate in (Aggregate.COUNT, Aggregate.DISTINCT):
        return cell.count
    if metric.aggregate == Aggregate.SUM:
        return _round(cell.sum, 6)
    return _round(cell.sum / cell.count, 4) if cell.count else 0


def _values(
    metric: Metric,
    found: Mapping[str, list[Cell] | None],
    extra: Mapping[str, Metric],
    pieces: int,
) -> list[float | int]:
    """``value_of`` of every piece at once, from each base metric's cells (None: no facts)."""
    if metric.aggregate == Aggregate.RATIO:
        assert metric.numerator
        assert metric.denominator
        numerators = _values(lookup(metric.numerator, extra), found, extra, pieces)
        denominators = _values(lookup(metric.denominator, extra), found, extra, pieces)
        scale = 100 if metric.percent else 1
        return [
            _round(n / d * scale, 2) if d else 0
            for n, d in zip(numerators, denominators, strict=True)
        ]
    cells = found.get(metric.name)
    if cells is None:
        return [value_of(metric, {}, extra)] * pieces
    if metric.aggregate in (Aggregate.COUNT, Aggregate.DISTINCT):
        return [cell.count for cell in cells]
    if metric.aggregate == Aggregate.SUM:
        return [_round(cell.sum, 6) for cell in cells]
    return [_round(cell.sum / cell.count, 4) if cell.count else 0 for cell in cells]


def check_size(spec: SeriesSpec, metrics: int, points: int) -> None:
    """Refuse (422) a series whose answer would hold more than ``MAX_SERIES_VALUES`` values."""
    if spec.group_by is not None and not 1 <= spec.group_limit <= MAX_GROUP_LIMIT:
        raise invalid(
            f"`group_limit` is between 1 and {MAX_GROUP_LIMIT}",
            "group_limit",
            location="query",
            limit=MAX_GROUP_LIMIT,
        )
    series = metrics * (spec.group_limit + 1 if spec.group_by is not None else 1)
    asked = series * points
    if asked > MAX_SERIES_VALUES:
        raise invalid(
            f"This series would hold {asked} values ({series} series of {points} "
            f"{spec.interval} points); at most {MAX_SERIES_VALUES} are answered. "
            "Ask for a longer interval, a shorter range, fewer metrics or groups.",
            "group_limit" if spec.group_by is not None else "interval",
            location="query",
            limit=MAX_SERIES_VALUES,
            asked=asked,
        )


@dataclass
class _Results:
    cells: Cells
    whole_distinct: Cells
    previous: Cells

    def groups(self) -> set[str | None]:
        return {g for by_group in self.cells.values() for g in by_group}


class Analytics:
    """One organization's analytics, read through the registry, rollups and cache."""

    def __init__(
        self, session: AsyncSession, org_id: str, *, cache: Cache | None = None, ttl_s: int = 300
    ) -> None:
        self.session = session
        self.org_id = org_id
        self.cache = cache
        self.ttl_s = ttl_s
        self._custom: custom.CustomMetrics | None = None

    async def _loaded(self) -> custom.CustomMetrics:
        if self._custom is None:
            self._custom = await custom.load(self.session, self.org_id)
        return self._custom

    async def custom_metrics(self) -> tuple[dict[str, Metric], set[str]]:
        """The organization's custom metrics by name, and those whose rollups are current."""
        loaded = await self._loaded()
        return loaded.metrics, loaded.ready

    async def resolve(self, names: Sequence[str]) -> list[Metric]:
        if not names:
            raise invalid("Name at least one metric", "metrics", location="query")
        loaded = await self._loaded()
        for name in names:
            if name in loaded.broken:
                raise Conflict(
                    f"The custom metric {name!r} cannot be computed: {loaded.broken[name]}. "
                    "Change its definition.",
                    metric=name,
                )
        return [lookup(name, loaded.metrics) for name in dict.fromkeys(names)]

    async def _metrics_of(
        self, names: Sequence[str]
    ) -> tuple[list[Metric], Mapping[str, Metric], set[str]]:
        """``resolve``d metrics, and the custom ones by name with those whose rollups are
        current. Custom metrics are all named ``custom.<name>``: a read of declared
        metrics only does not read the organization's definitions (one round trip)."""
        if self._custom is None and names and not any(n.startswith(custom.PREFIX) for n in names):
            return [lookup(name) for name in dict.fromkeys(names)], {}, set()
        metrics = await self.resolve(names)
        extra, ready = await self.custom_metrics()
        return metrics, extra, ready

    async def series(self, spec: SeriesSpec, *, use_rollups: bool = True) -> dict[str, Any]:
        metrics, extra, ready = await self._metrics_of(spec.metrics)
        for dimension, field in (
            (spec.group_by, "group_by"),
            (spec.where and spec.where[0], "filter"),
        ):
            for metric in metrics:
                if dimension:
                    check_dimension(metric, dimension, extra, field=field)
        edges, labels = boundaries(spec.start, spec.end, spec.interval, spec.tz)
        check_size(spec, len(metrics), len(edges) - 1)
        bases = list({b.name: b for m in metrics for b in base_metrics(m, extra)}.values())
        scope = Scope(self.org_id, spec.account, spec.group_by, spec.where)
        distinct = [b for b in bases if b.aggregate == Aggregate.DISTINCT]
        state = await planner.known_state(self.session) if use_rollups else {}

        async def plan_of(wanted: list[Metric], plan_edges: list[datetime]) -> Plan:
            return await planner.plan(
                self.session,
                wanted,
                plan_edges,
                scope,
                custom_ready=ready,
                use_rollups=use_rollups,
                state=state,
            )

        whole = [spec.start, spec.end]
        previous_edges = [spec.start - (spec.end - spec.start), spec.start]
        main = await plan_of(bases, edges)
        if main.stale:  # a fold moved a watermark since they were last read
            state = await planner.rollup_state(self.session)
            main = await plan_of(bases, edges)
        # Distinct counts do not add up across pieces: the total is its own query.
        whole_plan = await plan_of(distinct, whole) if distinct else None
        previous_plan = await plan_of(bases, previous_edges) if spec.compare else None
        key = None
        if self.cache is not None and use_rollups:
            key = self._cache_key(spec, [p for p in (main, whole_plan, previous_plan) if p])
            hit = await self.cache.get(key)
            if hit is not None:
                cached: dict[str, Any] = orjson.loads(hit)
                return cached

        groups: list[str | None] = [None]
        results: _Results | None = None
        if spec.group_by is not None:
            if len(edges) == 2:  # one piece: the series is its own ranking
                results = await self._run(main, whole_plan, previous_plan)
                ranked = self._rank(metrics[0], extra, results.cells)
            else:
                ranking = await plan_of(bases, whole)
                cells, distinct_cells = await query.execute(self.session, ranking)
                ranked = self._rank(metrics[0], extra, {**cells, **distinct_cells})
            kept = ranked[: spec.group_limit]
            if results is None or len(ranked) > spec.group_limit:
                narrowed = replace(scope, groups=tuple(kept))
                results = await self._run(
                    replace(main, scope=narrowed),
                    whole_plan and replace(whole_plan, scope=narrowed),
                    previous_plan and replace(previous_plan, scope=narrowed),
                )
            groups = [*kept]
            if None in results.groups():
                groups.append(None)  # every value beyond the kept ones: "other"
        else:
            results = await self._run(main, whole_plan, previous_plan)

        starts = [label.isoformat() for label in labels]
        out_series = [
            self._entry(metric, group, spec, results, extra, starts)
            for metric in metrics
            for group in groups
        ]
        result = {
            "interval": spec.interval,
            "timezone": str(spec.tz),
            "from": spec.start.isoformat(),
            "to": spec.end.isoformat(),
            "account_id": spec.account,
            "group_by": spec.group_by,
            "group_limit": spec.group_limit if spec.group_by is not None else None,
            "previous": (
                {"from": previous_edges[0].isoformat(), "to": previous_edges[1].isoformat()}
                if spec.compare
                else None
            ),
            "series": out_series,
        }
        if key is not None and self.cache is not None:
            await self.cache.set(key, orjson.dumps(result), ttl_s=self.ttl_s)
        return result

    def _cache_key(self, spec: SeriesSpec, plans: list[Plan]) -> str:
        material = orjson.dumps(
            [
                self.org_id,
                list(spec.metrics),
                spec.interval,
                str(spec.tz),
                spec.account,
                spec.group_by,
                list(spec.where) if spec.where else None,
                spec.compare,
                spec.group_limit,
                [p.fingerprint for p in plans],
            ]
        )
        return "analytics:series:" + hashlib.sha256(material).hexdigest()

    async def _run(self, main: Plan, whole: Plan | None, previous: Plan | None) -> _Results:
        cells, distinct_cells = await query.execute(self.session, main)
        cells.update(distinct_cells)
        whole_distinct: Cells = {}
        if whole is not None:
            _, whole_distinct = await query.execute(self.session, whole)
        previous_cells: Cells = {}
        if previous is not None:
            previous_cells, previous_distinct = await query.execute(self.session, previous)
            previous_cells.update(previous_distinct)
        return _Results(cells, whole_distinct, previous_cells)

    @staticmethod
    def _rank(metric: Metric, extra: Mapping[str, Metric], cells: Cells) -> list[str]:
        """Every group found, the largest total of ``metric`` first, ties by name."""
        bases = base_metrics(metric, extra)
        found: set[str] = {g for by_group in cells.values() for g in by_group if g is not None}

        def total(group: str) -> float:
            sums: dict[str, Cell] = {}
            for base in bases:
                for cell in cells.get(base.name, {}).get(group, []):
                    sums.setdefault(base.name, Cell()).add(cell.count, cell.sum)
            return float(value_of(metric, sums, extra))

        totals = {group: total(group) for group in found}
        return sorted(found, key=lambda g: (-totals[g], g))

    @staticmethod
    def _entry(
        metric: Metric,
        group: str | None,
        spec: SeriesSpec,
        results: _Results,
        extra: Mapping[str, Metric],
        starts: list[str],
    ) -> dict[str, Any]:
        """One metric's points, total and comparison for one group."""
        metric_bases = base_metrics(metric, extra)
        found = {b.name: results.cells.get(b.name, {}).get(group) for b in metric_bases}
        values = _values(metric, found, extra, len(starts))
        points = [
            {"start": start, "value": value} for start, value in zip(starts, values, strict=True)
        ]
        sums: dict[str, Cell] = {}
        for name, cells in found.items():
            if cells is not None and name not in sums:
                total_cell = sums[name] = Cell()
                for cell in cells:
                    total_cell.add(cell.count, cell.sum)
        for base in metric_bases:
            if base.aggregate == Aggregate.DISTINCT:
                whole_cell = results.whole_distinct.get(base.name, {}).get(group)
                sums[base.name] = whole_cell[0] if whole_cell else Cell()
        total = value_of(metric, sums, extra)
        entry: dict[str, Any] = {
            "metric": metric.name,
            "unit": metric.unit,
            "aggregate": metric.aggregate,
            "group": group,
            "other": spec.group_by is not None and group is None,
            "points": points,
            "total": total,
        }
        if spec.compare:
            previous = {
                b.name: (results.previous.get(b.name, {}).get(group) or [Cell()])[0]
                for b in metric_bases
            }
            previous_total = value_of(metric, previous, extra)
            entry["previous_total"] = previous_total
            entry["growth"] = growth_rate(total, previous_total)
        return entry

    async def totals(
        self,
        names: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        tz: ZoneInfo,
        account: str | None = None,
        where: tuple[str, str] | None = None,
        compare: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Each metric's total over [start, end) (and the previous period's, with growth)."""
        result = await self.series(
            SeriesSpec(
                tuple(names),
                Interval.YEAR,
                start,
                end,
                tz,
                account=account,
                where=where,
                compare=compare,
            )
        )
        return {entry["metric"]: entry for entry in result["series"]}
