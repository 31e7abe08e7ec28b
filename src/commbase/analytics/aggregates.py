"""What rollups store and raw reads add to them: (count, sum) columns per metric, a
dimension's value as a group, and hour runs to read in one index range scan each.

The fold (``rollup.py``) and the read path (``query.py``) both build their SQL
from these, which is what keeps a rolled-up hour and the same hour read raw equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal

from commbase.analytics.registry import Expr, Metric

# Rollups keep a dimension's value up to this length; raw reads cut it the same way.
MAX_VALUE_LENGTH = 200


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


def dimension_value(expression: Expr) -> ColumnElement[str]:
    """A dimension's value as a group: text, '' for none, cut as rollups keep it."""
    return func.substr(func.coalesce(cast(expression, String), ""), 1, MAX_VALUE_LENGTH)


# ------------------------------------------------------------------ packs
# Rollup rows hold the (count, sum) of a pack of metrics (``models.MetricRollup``).
PACK_SIZE = 40  # metrics per pack: 80 array items stay below SQLite's 100 function arguments
# A dimension with more values than this in one hour (across accounts) is not rolled
# up for that hour; one marker row (``overflow_dimension``) says so, and reads by it
# take the hour raw.
MAX_VALUES_PER_HOUR = 64


def overflow_dimension(dimension: str) -> str:
    """The marker row's dimension: ``dimension`` had too many values in the hour."""
    return f"!{dimension}"


def pack_prefix(key: str) -> str:
    return f"{key}:"


def layout(metrics: Iterable[Metric], key: str) -> dict[str, tuple[str, int]]:
    """Where each metric's (count, sum) lives: its pack and index of its count there.

    Declared metrics of watermark ``key`` are packed by name, ``PACK_SIZE`` a pack;
    a custom metric (``org_id`` set) is a pack of its own, named after it.
    """
    places: dict[str, tuple[str, int]] = {}
    declared = sorted(m.name for m in metrics if m.org_id is None)
    for number, first in enumerate(range(0, len(declared), PACK_SIZE)):
        for position, name in enumerate(declared[first : first + PACK_SIZE]):
            places[name] = (f"{pack_prefix(key)}{number}", 2 * position)
    for metric in metrics:
        if metric.org_id is not None:
            places[metric.name] = (metric.name, 0)
    return places


_layouts: dict[tuple[str, str], dict[str, tuple[str, int]]] = {}


def declared_layout(key: str) -> dict[str, tuple[str, int]]:
    """The packs of the declared metrics of watermark ``key`` (memoized by signature)."""
    from commbase.analytics.registry import declared_signature, registered_sources

    memo = (key, declared_signature(key))
    if memo not in _layouts:
        _layouts[memo] = layout(registered_sources().get(key, []), key)
    return _layouts[memo]


def place(metric: Metric) -> tuple[str, int]:
    """A rolled-up metric's pack and the index of its count in the pack's array."""
    if metric.org_id is not None:
        return metric.name, 0
    assert metric.source is not None
    return declared_layout(metric.source.watermark_key)[metric.name]
