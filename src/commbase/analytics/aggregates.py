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
