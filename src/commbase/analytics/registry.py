"""The metric registry: what can be counted, summed and averaged, declared by each domain.

A domain declares a :class:`Source` (a table of facts, its organization, time and
change columns, and the dimensions its facts can be split by) and its metrics
over that source, in its own ``metrics.py``::

    CALLS = Source(
        "calls", Call.__table__, org=Call.org_id, time=Call.created_at,
        changed=Call.updated_at, dimensions={"status": Call.status, "country": Call.to_country},
    )
    register(
        count("calls.total", CALLS, "Calls placed"),
        count("calls.completed", CALLS, "Calls that connected", where=Call.status == "completed"),
        average("calls.duration_avg", CALLS, Call.duration_seconds, "Average duration", unit="s"),
        ratio("calls.success_rate", "calls.completed", "calls.total", "Completed / placed"),
    )

and adds the module to :mod:`commbase.analytics.domains`. That is all a new
domain (messaging, subscriptions) needs: rollups, series, snapshots, alerts and
exports pick the metric up by name.

Rules a source must keep, because rollups rely on them:

* ``time`` decides the hour a fact counts in; it must not change once set.
* ``changed`` must move (to now) whenever anything a metric reads changes, and
  be indexed with the organization: rows changed after the watermark are what
  the live tail reads and what the rollup job refolds.
* A fact counts once per metric: ``count`` counts rows, ``sum``/``average``
  add ``value`` (nulls are skipped), ``distinct`` counts distinct ``value``
  (computed from raw facts, since distinct counts do not add up across hours).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, true
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from commbase.analytics.enums import Aggregate
from commbase.core.errors import NotFound, invalid

# A column or SQL expression (mapped attributes included).
Expr = Any


@dataclass(frozen=True, eq=False)
class Source:
    """A table of facts that metrics aggregate."""

    name: str
    table: FromClause
    org: Expr
    time: Expr
    changed: Expr
    dimensions: Mapping[str, Expr] = field(default_factory=dict)
    # Dimensions with many values per hour (a user, an agent session): not rolled up;
    # reads split or filtered by one of them aggregate the raw facts.
    unrolled: frozenset[str] = frozenset()
    account: Expr | None = None  # the channel account a fact belongs to
    where: ColumnElement[bool] | None = None  # rows of the table that are facts of this source
    # Several sources can share one table and its watermark (custom metrics share
    # tracked_events); ``watermark`` names it.
    watermark: str = ""

    @property
    def watermark_key(self) -> str:
        return self.watermark or self.name

    def base_filter(self) -> ColumnElement[bool]:
        return self.where if self.where is not None else true()

    @property
    def rolled_dimensions(self) -> dict[str, Expr]:
        """The dimensions rollups keep, by name."""
        return {k: v for k, v in self.dimensions.items() if k not in self.unrolled}


@dataclass(frozen=True, eq=False)
class Metric:
    name: str
    aggregate: Aggregate
    description: str
    source: Source | None = None
    value: Expr | None = None
    where: ColumnElement[bool] | None = None
    numerator: str | None = None
    denominator: str | None = None
    unit: str = "count"
    percent: bool = False  # ratios: x 100, 2 decimals
    org_id: str | None = None  # custom metrics belong to one organization

    @property
    def rolled_up(self) -> bool:
        return self.aggregate in (Aggregate.COUNT, Aggregate.SUM, Aggregate.AVG)

    @property
    def dimensions(self) -> Mapping[str, Expr]:
        return self.source.dimensions if self.source is not None else {}

    def filter(self) -> ColumnElement[bool]:
        assert self.source is not None
        clauses = [self.source.base_filter()]
        if self.where is not None:
            clauses.append(self.where)
        return and_(*clauses)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aggregate": self.aggregate,
            "description": self.description,
            "unit": self.unit,
            "source": self.source.name if self.source is not None else None,
            "dimensions": sorted(self.dimensions),
            "supports_account": self.source is not None and self.source.account is not None,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "custom": self.org_id is not None,
        }


_PG = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


def _sql(element: Any) -> str:
    if element is None:
        return ""
    compiled = element.compile(dialect=_PG, compile_kwargs={"literal_binds": True})
    return str(compiled)


# Rollups also keep each hour's totals per quarter hour, under this pseudo-dimension
# (value "0".."3"): a day in UTC+05:30 or +05:45 then splits no hour into raw facts.
QUARTER = "@quarter"
# Bumped when the shape of rollup rows changes: every source is rebuilt, except from
# UPGRADABLE_FORMAT, whose rows are kept and completed (``rollup.fold_source``).
ROLLUP_FORMAT = "4"  # 4: 24-hour windows (windows.py)
UPGRADABLE_FORMAT = "3"  # the same rows without windows


def signature(metrics: Iterable[Metric], *, rollup_format: str = ROLLUP_FORMAT) -> str:
    """A fingerprint of metric definitions: rollups built by another definition are stale."""
    digest = hashlib.sha256(rollup_format.encode())
    for metric in sorted(metrics, key=lambda m: m.name):
        source = metric.source
        parts = [
            metric.name,
            metric.aggregate,
            _sql(metric.value),
            _sql(metric.where),
            _sql(source.base_filter()) if source else "",
            _sql(source.time) if source else "",
            _sql(source.account) if source else "",
            ",".join(
                f"{k}={_sql(v)}"
                for k, v in sorted((source.rolled_dimensions if source else {}).items())
            ),
        ]
        digest.update("\x1f".join(parts).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:32]


# ------------------------------------------------------------------ declaring


def count(
    name: str,
    source: Source,
    description: str,
    *,
    where: ColumnElement[bool] | None = None,
    unit: str = "count",
) -> Metric:
    return Metric(name, Aggregate.COUNT, description, source=source, where=where, unit=unit)


def total(
    name: str,
    source: Source,
    value: Expr,
    description: str,
    *,
    where: ColumnElement[bool] | None = None,
    unit: str = "count",
) -> Metric:
    return Metric(
        name, Aggregate.SUM, description, source=source, value=value, where=where, unit=unit
    )


def average(
    name: str,
    source: Source,
    value: Expr,
    description: str,
    *,
    where: ColumnElement[bool] | None = None,
    unit: str = "count",
) -> Metric:
    return Metric(
        name, Aggregate.AVG, description, source=source, value=value, where=where, unit=unit
    )


def distinct(
    name: str,
    source: Source,
    value: Expr,
    description: str,
    *,
    where: ColumnElement[bool] | None = None,
) -> Metric:
    return Metric(name, Aggregate.DISTINCT, description, source=source, value=value, where=where)


def ratio(
    name: str, numerator: str, denominator: str, description: str, *, percent: bool = True
) -> Metric:
    return Metric(
        name,
        Aggregate.RATIO,
        description,
        numerator=numerator,
        denominator=denominator,
        unit="percent" if percent else "ratio",
        percent=percent,
    )


_metrics: dict[str, Metric] = {}


def register(*metrics: Metric) -> None:
    for metric in metrics:
        if metric.aggregate == Aggregate.RATIO:
            if not (metric.numerator and metric.denominator):
                raise ValueError(f"{metric.name}: a ratio needs a numerator and a denominator")
        elif metric.source is None:
            raise ValueError(f"{metric.name}: needs a source")
        needs_value = (Aggregate.SUM, Aggregate.AVG, Aggregate.DISTINCT)
        if metric.aggregate in needs_value and metric.value is None:
            raise ValueError(f"{metric.name}: {metric.aggregate} needs a value")
        _metrics[metric.name] = metric
    _signatures.clear()


def registered() -> dict[str, Metric]:
    """Every metric declared in code (not organizations' custom metrics)."""
    from commbase.analytics import domains  # noqa: F401  (runs the declarations)

    return dict(sorted(_metrics.items()))


def declared_signature(key: str) -> str:
    """The signature of the declared rolled-up metrics of one watermark key (memoized)."""
    if key not in _signatures:
        _signatures[key] = signature(registered_sources().get(key, []))
    return _signatures[key]


_signatures: dict[str, str] = {}


def registered_sources() -> dict[str, list[Metric]]:
    """Declared rolled-up metrics by watermark key."""
    result: dict[str, list[Metric]] = {}
    for metric in registered().values():
        if metric.source is not None and metric.rolled_up:
            result.setdefault(metric.source.watermark_key, []).append(metric)
    return result


def lookup(name: str, extra: Mapping[str, Metric] | None = None) -> Metric:
    # Called per metric and point of every series: no sorted copy of the registry here.
    from commbase.analytics import domains  # noqa: F401  (runs the declarations)

    metric = extra.get(name) if extra else None
    if metric is None:
        metric = _metrics.get(name)
    if metric is None:
        raise NotFound(f"No metric named {name!r}", metric=name)
    return metric


def base_metrics(metric: Metric, extra: Mapping[str, Metric] | None = None) -> list[Metric]:
    """The source metrics a metric is computed from (a ratio's two sides, recursively)."""
    if metric.aggregate != Aggregate.RATIO:
        return [metric]
    assert metric.numerator
    assert metric.denominator
    return base_metrics(lookup(metric.numerator, extra), extra) + base_metrics(
        lookup(metric.denominator, extra), extra
    )


def check_dimension(
    metric: Metric,
    dimension: str,
    extra: Mapping[str, Metric] | None,
    *,
    field: str = "group_by",
    location: str = "query",
) -> None:
    for base in base_metrics(metric, extra):
        if dimension not in base.dimensions:
            raise invalid(
                f"Metric {metric.name!r} cannot be split by {dimension!r}; "
                f"it has {', '.join(sorted(base.dimensions)) or 'no dimensions'}",
                field,
                location=location,
                metric=metric.name,
                dimension=dimension,
            )


# ------------------------------------------------------------------ snapshot sections


@dataclass(frozen=True)
class Entry:
    """A snapshot value: a metric over the period, or ``cumulative`` from the beginning.
    ``per_account`` names the metric that gives the value when a snapshot is for one
    channel account (the organization-wide one may not split by account)."""

    metric: str
    cumulative: bool = False
    per_account: str | None = None

    def for_account(self, account: str | None) -> Entry:
        """The entry a snapshot for ``account`` (None: the organization) reads."""
        if account is None or self.per_account is None:
            return self
        return Entry(self.per_account, self.cumulative)


_sections: dict[str, dict[str, Entry]] = {}


def register_section(name: str, entries: Mapping[str, str | Entry]) -> None:
    """Declare a snapshot section: JSON key -> metric name (or :class:`Entry`)."""
    _sections[name] = {
        key: entry if isinstance(entry, Entry) else Entry(entry) for key, entry in entries.items()
    }


def sections() -> dict[str, dict[str, Entry]]:
    registered()  # imports the domains, which register their sections
    return dict(_sections)


# A value no single metric gives (a growth rate between two moments, a retention rate)
# is computed by its domain from registry figures: an async function of (session,
# organization, start, end, time zone) returning section keys and numbers.
Derive = Callable[..., Awaitable[dict[str, float]]]
_derived: dict[str, list[Derive]] = {}


def register_derived(section: str, compute: Derive) -> None:
    """Declare values of ``section`` that ``compute`` derives (organization-wide only)."""
    _derived.setdefault(section, []).append(compute)


def derived() -> dict[str, list[Derive]]:
    registered()
    return {name: list(computes) for name, computes in _derived.items()}
