"""The read path's PostgreSQL statements, built once per shape with bind parameters.

Building a statement of a dozen aggregates and generating its cache key costs
SQLAlchemy more than PostgreSQL takes to run it on sealed rollups. A dashboard
sends the same few shapes again and again (one pack's hours by piece with its
quarter hours, a source's raw hours), so each shape is built once here and
executed with its values as parameters (``query.py`` uses them on PostgreSQL for
reads without a grouping; everything else builds its statement per read).
Only declared metrics are kept: custom metrics are rebuilt per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP

from commbase.analytics.aggregates import count_and_sum
from commbase.analytics.models import MetricRollup
from commbase.analytics.registry import QUARTER, Metric
from commbase.analytics.sql import number_at
from commbase.analytics.windows import WINDOW

# Shapes kept at most (a bound on memory, far above what declared metrics produce).
MAX_SHAPES = 512
_cache: dict[tuple[Any, ...], Any] = {}


def _kept(key: tuple[Any, ...], statement: Any) -> Any:
    if len(_cache) < MAX_SHAPES:
        _cache[key] = statement
    return statement


def sums(positions: Sequence[int]) -> list[Any]:
    """sum() of the count and the sum at each position of a pack's array."""
    key = ("sums", tuple(positions))
    found = _cache.get(key)
    if found is None:
        found = []
        for position in positions:
            found += [
                func.sum(number_at(MetricRollup.totals, position)),
                func.sum(number_at(MetricRollup.totals, position + 1)),
            ]
        _kept(key, found)
    return list(found)


def row_quarter() -> Any:
    """A quarter-hour row's quarter hour since the epoch: its hour's four, plus its
    value (0-3), which is cast only on such rows ('' elsewhere)."""
    is_quarter = MetricRollup.dimension == QUARTER
    return MetricRollup.hour * 4 + case((is_quarter, cast(MetricRollup.value, BigInteger)))


def hours_by_piece(
    positions: tuple[int, ...], *, value: bool, account: bool, skipped: bool
) -> Select[Any]:
    """A pack's sealed hours of one dimension summed by piece. Parameters: org, pack,
    dimension, first, stop (hours), edges (the pieces' first hours), and value,
    account, skipped (hours read otherwise) when asked for."""
    key = ("hours", positions, value, account, skipped)
    found = _cache.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    edges = bindparam("edges", type_=ARRAY(BigInteger))
    piece = (func.width_bucket(MetricRollup.hour, edges) - 1).label("piece")
    statement = select(piece, *sums(positions)).where(
        MetricRollup.org_id == bindparam("org"),
        MetricRollup.metric == bindparam("pack"),
        MetricRollup.dimension == bindparam("dimension"),
        MetricRollup.hour >= bindparam("first", type_=BigInteger),
        MetricRollup.hour < bindparam("stop", type_=BigInteger),
    )
    if value:
        statement = statement.where(MetricRollup.value == bindparam("value"))
    if account:
        statement = statement.where(MetricRollup.account == bindparam("account"))
    if skipped:
        excluded = bindparam("skipped", type_=ARRAY(BigInteger))
        statement = statement.where(MetricRollup.hour != func.all(excluded))
    return _kept(key, statement.group_by(piece))  # type: ignore[no-any-return]


def rollups_by_piece(
    positions: tuple[int, ...], *, account: bool, skipped: bool, raw: bool
) -> Select[Any]:
    """A pack's sealed hours (no dimension) and the quarter-hour rows of some hours, summed
    by piece in one statement: one round trip, one scan (a BitmapOr of the two index
    ranges). Parameters: org, pack, first, stop (hours), edges (the pieces' first hours),
    hours (read by quarter), quarter_edges (the pieces' first quarter hours), and
    account, skipped (hours read otherwise), raw (quarters read from raw facts) when
    asked for."""
    key = ("rollups", positions, account, skipped, raw)
    found = _cache.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    is_quarter = MetricRollup.dimension == QUARTER
    quarter = row_quarter()
    hour_edges = bindparam("edges", type_=ARRAY(BigInteger))
    quarter_edges = bindparam("quarter_edges", type_=ARRAY(BigInteger))
    piece = (
        case(
            (is_quarter, func.width_bucket(quarter, quarter_edges)),
            else_=func.width_bucket(MetricRollup.hour, hour_edges),
        )
        - 1
    ).label("piece")
    hours = and_(
        MetricRollup.dimension == "",
        MetricRollup.hour >= bindparam("first", type_=BigInteger),
        MetricRollup.hour < bindparam("stop", type_=BigInteger),
    )
    if skipped:
        excluded = bindparam("skipped", type_=ARRAY(BigInteger))
        hours = and_(hours, MetricRollup.hour != func.all(excluded))
    quarters = and_(
        is_quarter,
        MetricRollup.hour == func.any(bindparam("hours", type_=ARRAY(BigInteger))),
    )
    if raw:
        quarters = and_(quarters, quarter != func.all(bindparam("raw", type_=ARRAY(BigInteger))))
    statement = select(piece, *sums(positions)).where(
        MetricRollup.org_id == bindparam("org"),
        MetricRollup.metric == bindparam("pack"),
        or_(hours, quarters),
    )
    if account:
        statement = statement.where(MetricRollup.account == bindparam("account"))
    return _kept(key, statement.group_by(piece))  # type: ignore[no-any-return]


def covered_by_piece(
    positions: tuple[int, ...], *, account: bool, parts: tuple[bool, bool, bool]
) -> Select[Any]:
    """A pack's totals from a cover (``windows.cover``): hour rows, quarter-hour rows and
    windows, summed by piece. Parameters: org, pack, edges and quarter_edges (the
    pieces' first hours and quarter hours), and those ``parts`` asks for: hours,
    quarter_hours (the hours of the quarters) and quarters, windows; account when
    asked for. Each kind is its own branch of a UNION ALL, one index scan each, and
    a kind not asked for is absent: PostgreSQL 15 planned the same reads as one OR
    in 1.2-2.6 ms (its BitmapOr paths), the branches in 0.2 ms."""
    key = ("covered", positions, account, parts)
    found = _cache.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]

    def listed(name: str) -> Any:
        return MetricRollup.hour == func.any(bindparam(name, type_=ARRAY(BigInteger)))

    def width_bucket(value: Any, edges: str) -> Any:
        return func.width_bucket(value, bindparam(edges, type_=ARRAY(BigInteger))) - 1

    is_quarter = MetricRollup.dimension == QUARTER
    quarter = row_quarter()
    quarters = bindparam("quarters", type_=ARRAY(BigInteger))
    kinds = [
        (width_bucket(MetricRollup.hour, "edges"), [MetricRollup.dimension == "", listed("hours")]),
        (
            width_bucket(quarter, "quarter_edges"),
            [is_quarter, listed("quarter_hours"), quarter == func.any(quarters)],
        ),
        (
            width_bucket(MetricRollup.hour, "quarter_edges"),
            [MetricRollup.dimension == WINDOW, listed("windows")],
        ),
    ]
    branches = []
    for (piece, conditions), asked in zip(kinds, parts, strict=True):
        if not asked:
            continue
        branch = select(piece.label("piece"), MetricRollup.totals).where(
            MetricRollup.org_id == bindparam("org"),
            MetricRollup.metric == bindparam("pack"),
            *conditions,
        )
        if account:
            branch = branch.where(MetricRollup.account == bindparam("account"))
        branches.append(branch)
    rows = (branches[0] if len(branches) == 1 else union_all(*branches)).subquery("covered")
    totals = [
        func.sum(number_at(rows.c.totals, position + item))
        for position in positions
        for item in (0, 1)
    ]
    statement = select(rows.c.piece, *totals).group_by(rows.c.piece)
    return _kept(key, statement)  # type: ignore[no-any-return]


def raw_by_piece(metrics: tuple[Metric, ...], ranges: int) -> Select[Any] | None:
    """(count, sum) of declared ``metrics`` (one source) by piece over ``ranges`` time
    ranges of the organization's facts, or None for a custom metric. Parameters: org,
    edges (the pieces' edges), s0, e0, s1, e1, ... (each range's start and end)."""
    if any(metric.org_id is not None for metric in metrics):
        return None
    key = ("raw", metrics, ranges)
    found = _cache.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    source = metrics[0].source
    assert source is not None
    edges = bindparam("edges", type_=ARRAY(TIMESTAMP(timezone=True)))
    piece = (func.width_bucket(source.time, edges) - 1).label("piece")
    time_type = source.time.type
    statement = (
        select(piece, *count_and_sum(metrics))
        .where(source.org == bindparam("org"), source.base_filter())
        .where(
            or_(
                *(
                    and_(
                        source.time >= bindparam(f"s{number}", type_=time_type),
                        source.time < bindparam(f"e{number}", type_=time_type),
                    )
                    for number in range(ranges)
                )
            )
        )
        .group_by(piece)
    )
    return _kept(key, statement)  # type: ignore[no-any-return]
