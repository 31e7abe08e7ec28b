"""Series and totals of metrics for one organization: the API's one way to read analytics."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import custom, query
from commbase.analytics.calculations import growth_rate
from commbase.analytics.periods import Interval, boundaries
from commbase.analytics.query import Cell, Cells, Scope
from commbase.analytics.registry import Metric, base_metrics, check_dimension, invalid, lookup
from commbase.core.cache import Cache

MAX_METRICS = 20


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


def _round(value: float, digits: int) -> float | int:
    rounded = round(value, digits)
    return int(rounded) if float(rounded).is_integer() else rounded


def value_of(metric: Metric, cells: Mapping[str, Cell], extra: Mapping[str, Metric]) -> float | int:
    """A metric's value from its base metrics' (count, sum) cells."""
    if metric.aggregate == "ratio":
        assert metric.numerator
        assert metric.denominator
        numerator = value_of(lookup(metric.numerator, extra), cells, extra)
        denominator = value_of(lookup(metric.denominator, extra), cells, extra)
        if not denominator:
            return 0
        return _round(numerator / denominator * (100 if metric.percent else 1), 2)
    cell = cells.get(metric.name, Cell())
    if metric.aggregate in ("count", "distinct"):
        return cell.count
    if metric.aggregate == "sum":
        return _round(cell.sum, 6)
    return _round(cell.sum / cell.count, 4) if cell.count else 0


class Analytics:
    """One organization's analytics, read through the registry, rollups and cache."""

    def __init__(
        self, session: AsyncSession, org_id: str, *, cache: Cache | None = None, ttl_s: int = 300
    ) -> None:
        self.session = session
        self.org_id = org_id
        self.cache = cache
        self.ttl_s = ttl_s
        self._custom: tuple[dict[str, Metric], set[str]] | None = None

    async def custom_metrics(self) -> tuple[dict[str, Metric], set[str]]:
        if self._custom is None:
            self._custom = await custom.load(self.session, self.org_id)
        return self._custom

    async def resolve(self, names: Sequence[str]) -> list[Metric]:
        if not names:
            raise invalid("Name at least one metric", "metrics")
        extra, _ = await self.custom_metrics()
        return [lookup(name, extra) for name in dict.fromkeys(names)]

    async def series(self, spec: SeriesSpec, *, use_rollups: bool = True) -> dict[str, Any]:
        metrics = await self.resolve(spec.metrics)
        extra, _ = await self.custom_metrics()
        for dimension, field in (
            (spec.group_by, "group_by"),
            (spec.where and spec.where[0], "filter"),
        ):
            for metric in metrics:
                if dimension:
                    check_dimension(metric, dimension, extra, field=field)
        edges, labels = boundaries(spec.start, spec.end, spec.interval, spec.tz)
        bases = list({b.name: b for m in metrics for b in base_metrics(m, extra)}.values())
        scope = Scope(self.org_id, spec.account, spec.group_by, spec.where)
        distinct = [b for b in bases if b.aggregate == "distinct"]

        _, ready = await self.custom_metrics()
        state = await query.rollup_state(self.session) if use_rollups else {}
        plans = [
            await query.plan(
                self.session,
                bases,
                edges,
                scope,
                custom_ready=ready,
                use_rollups=use_rollups,
                state=state,
            )
        ]
        if distinct:
            # Distinct counts do not add up across pieces: the total is its own query.
            plans.append(
                await query.plan(
                    self.session,
                    distinct,
                    [spec.start, spec.end],
                    scope,
                    use_rollups=use_rollups,
                    state=state,
                )
            )
        previous_edges = [spec.start - (spec.end - spec.start), spec.start]
        if spec.compare:
            plans.append(
                await query.plan(
                    self.session,
                    bases,
                    previous_edges,
                    scope,
                    custom_ready=ready,
                    use_rollups=use_rollups,
                    state=state,
                )
            )
        key = None
        if self.cache is not None and use_rollups:
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
                    [p.fingerprint for p in plans],
                ]
            )
            key = "analytics:series:" + hashlib.sha256(material).hexdigest()
            hit = await self.cache.get(key)
            if hit is not None:
                result: dict[str, Any] = orjson.loads(hit)
                return result

        cells, distinct_cells = await query.execute(self.session, plans[0])
        whole_distinct: Cells = {}
        if distinct:
            _, whole_distinct = await query.execute(self.session, plans[1])
        previous_cells: Cells = {}
        previous_distinct: Cells = {}
        if spec.compare:
            previous_cells, previous_distinct = await query.execute(self.session, plans[-1])
        cells.update(distinct_cells)
        previous_cells.update(previous_distinct)

        pieces = len(edges) - 1
        groups: list[Any] = [None]
        if spec.group_by:
            found = {g for b in bases for g in cells.get(b.name, {})}
            groups = sorted((g for g in found if g is not None), key=str)
        out_series = []
        for metric in metrics:
            metric_bases = base_metrics(metric, extra)
            for group in groups:
                points = []
                sums: dict[str, Cell] = {}
                for piece in range(pieces):
                    at_piece: dict[str, Cell] = {}
                    for base in metric_bases:
                        cell = cells.get(base.name, {}).get(group)
                        if cell is not None:
                            at_piece[base.name] = cell[piece]
                            total_cell = sums.setdefault(base.name, Cell())
                            total_cell.add(cell[piece].count, cell[piece].sum)
                    points.append(
                        {
                            "start": labels[piece].isoformat(),
                            "value": value_of(metric, at_piece, extra),
                        }
                    )
                for base in metric_bases:
                    if base.aggregate == "distinct":
                        whole_cell = whole_distinct.get(base.name, {}).get(group)
                        sums[base.name] = whole_cell[0] if whole_cell else Cell()
                total = value_of(metric, sums, extra)
                entry: dict[str, Any] = {
                    "metric": metric.name,
                    "unit": metric.unit,
                    "aggregate": metric.aggregate,
                    "group": group,
                    "points": points,
                    "total": total,
                }
                if spec.compare:
                    prev = {
                        b.name: (previous_cells.get(b.name, {}).get(group) or [Cell()])[0]
                        for b in metric_bases
                    }
                    previous_total = value_of(metric, prev, extra)
                    entry["previous_total"] = previous_total
                    entry["growth"] = growth_rate(total, previous_total)
                out_series.append(entry)
        result = {
            "interval": spec.interval,
            "timezone": str(spec.tz),
            "from": spec.start.isoformat(),
            "to": spec.end.isoformat(),
            "account_id": spec.account,
            "group_by": spec.group_by,
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
                "year",
                start,
                end,
                tz,
                account=account,
                where=where,
                compare=compare,
            )
        )
        return {entry["metric"]: entry for entry in result["series"]}
