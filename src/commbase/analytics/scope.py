"""Whose facts a read covers: an organization, optionally one channel account, one
dimension's value (a filter) and a grouping with the groups kept by name.

``scoped`` narrows a query of a source's raw facts to a scope and a time range;
``kept_groups`` turns a group column into the kept groups plus one "other" (NULL).
Both the planner (``planner.py``) and the reads (``query.py``) use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, case, func, literal

from commbase.analytics.aggregates import dimension_value
from commbase.analytics.registry import Source


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
    # No groups kept (an organization without such facts) is an empty IN of strings: the
    # same statement as any other list, so it is compiled once for all (commbase.warmup).
    groups = bindparam(None, list(scope.groups), type_=String, expanding=True)
    return case((value.in_(groups), value), else_=literal(None, String))


def scoped(
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
