"""The plan of a read: per source, which hours come from rollups and which from raw facts.

For each source the planner reads its watermark W, then finds the quarter hours
in the range holding a fact changed after W ("dirty": new facts, late facts,
facts updated since the last fold) and the hours with facts deleted since it
(touches); one statement answers for every source of the plan. Every other whole
hour is read from ``metric_rollups``. Without a grouping or filter, a dirty hour
is read from its quarter-hour rollups except its dirty quarters, which are
aggregated from the raw facts (a fact's time never changes, so a quarter without
a changed fact is as it was folded), and so is an hour cut only by edges on
quarter hours (days in Asia/Kolkata start at :30). Hours cut elsewhere (a range
ending now), touched hours, every dirty hour of a grouped or filtered read, and
hours where a grouping's dimension had too many values to be rolled up (an
overflow marker) are aggregated from the raw facts whole. A source with no
usable rollups, read by a dimension it does not roll up (``Source.unrolled``),
or with too many raw hours, is read raw over the whole range. The dirty summary
is also the plan's fingerprint, the cache key's data version: any change to a
fact in range changes it. ``query.execute`` runs the plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Float,
    String,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.aggregates import overflow_dimension, place
from commbase.analytics.models import MetricRollup, Touch, Watermark
from commbase.analytics.registry import Metric, Source, declared_signature
from commbase.analytics.scope import Scope, scoped
from commbase.analytics.sql import epoch_seconds, hour_number, hour_start, quarter_number
from commbase.core.db import UTCDateTime
from commbase.core.plans import custom_plans

# Above this many raw hours a source is aggregated from raw facts over the whole range.
MAX_RAW_HOURS = 4000


@dataclass
class _SourcePlan:
    source: Source
    metrics: list[Metric]
    ready: list[Metric]  # rollups exist for these, built by their current definition
    raw_hours: set[int] = field(default_factory=set)
    quarter_hours: set[int] = field(default_factory=set)  # cut or dirty; quarter rollups
    raw_quarters: set[int] = field(default_factory=set)  # of quarter_hours: dirty, read raw
    whole_range_raw: bool = False


@dataclass
class Plan:
    scope: Scope
    edges: list[datetime]
    sources: list[_SourcePlan]
    fingerprint: str
    # The watermarks it was planned with were no longer current when its data version
    # was read: plan again with ``rollup_state``'s.
    stale: bool = False


# The watermarks last read, by database URL: a request plans with them, and its
# data-version statement reads the current ones in the same snapshot (``stale``).
_KNOWN: dict[str, dict[str, tuple[datetime, str]]] = {}


async def rollup_state(session: AsyncSession) -> dict[str, tuple[datetime, str]]:
    rows = await session.execute(select(Watermark.source, Watermark.position, Watermark.signature))
    state = {source: (position, sig) for source, position, sig in rows}
    url = str(session.get_bind().engine.url)
    if url in _KNOWN or len(_KNOWN) < 16:
        _KNOWN[url] = state
    return state


async def known_state(session: AsyncSession) -> dict[str, tuple[datetime, str]]:
    """The watermarks last read from this database (read now the first time). A plan made
    with them checks them in its data-version statement: ``Plan.stale`` if they changed."""
    known = _KNOWN.get(str(session.get_bind().engine.url))
    return known if known is not None else await rollup_state(session)


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


def _indexed(attribute: Any) -> bool:
    """Whether some index of its table holds the column ``attribute`` maps."""
    column = attribute.expression
    return any(column.name in index.columns for index in getattr(column.table, "indexes", ()))


# Statements of the data version, by shape (declared sources, no account or filter).
_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _versions_statement(
    entries: list[_SourcePlan],
    watermarks: list[datetime | None],
    scope: Scope,
    dialect: str,
    *,
    verify: bool,
) -> Any:
    """One statement for every source: each one's quarter hours holding a fact changed
    since its watermark, the hours touched since (keys -hour - 2), and with ``verify``
    its watermark row (source -1 - number). Parameters: org, start, end, first, last
    (hours), w0, w1, ... (each source's watermark), key0, sig0, ... (with ``verify``:
    each source's watermark key and the signature planned with)."""
    start = bindparam("start", type_=UTCDateTime())
    end = bindparam("end", type_=UTCDateTime())
    org = bindparam("org", type_=String())
    statements: list[Any] = []
    checks: list[Any] = []
    for number, (entry, watermark) in enumerate(zip(entries, watermarks, strict=True)):
        source = entry.source
        if verify:
            # The source's watermark as this statement sees it (source -1 - number): its
            # presence, position and whether its signature is the one planned with.
            checks.append(
                select(
                    literal(-1 - number),
                    literal(0, BigInteger),
                    func.count(),
                    func.max(Watermark.position),
                    func.sum(
                        case((Watermark.signature == bindparam(f"sig{number}"), 1.0), else_=0.0)
                    ),
                ).where(Watermark.source == bindparam(f"key{number}"))
            )
        mark = bindparam(f"w{number}", type_=UTCDateTime())
        changed_since = source.changed > mark if watermark is not None else literal(True)
        # Few rows changed since the watermark: SQLite must find them by the change
        # index, not scan the range by the time index (PostgreSQL's planner knows).
        # A source whose change time has no index is read by its time index over the
        # range (conversations' is ``facts_changed_at``, indexed: migration 0057).
        time = (
            func.coalesce(source.time, source.time)
            if dialect == "sqlite"
            and source.changed is not source.time
            and _indexed(source.changed)
            else source.time
        )
        versioned = [func.count(), func.max(source.changed)]
        versioned.append(func.sum(epoch_seconds(source.changed, dialect)))
        if entry.whole_range_raw:
            # No rollups: the version is the whole range's, one row.
            key: Any = literal(-1, BigInteger).label("key")
            time = source.time
        else:
            key = quarter_number(source.time, dialect).label("key")
        dirty = select(literal(number).label("src"), key, *versioned).where(
            source.org == org, source.base_filter(), time >= start, time < end
        )
        if scope.account is not None or scope.where is not None:
            dirty = scoped(dirty, source, scope, None, None)  # (such are not kept)
        if not entry.whole_range_raw:
            dirty = dirty.where(changed_since).group_by(key)
        statements.append(dirty)
        if not entry.whole_range_raw and watermark is not None:
            # Hours whose facts were deleted since the fold: raw until refolded.
            statements.append(
                select(
                    literal(number),
                    -Touch.hour - 2,
                    func.count(),
                    func.max(Touch.touched_at),
                    literal(0.0, Float),
                )
                .where(
                    Touch.org_id == org,
                    Touch.source == source.watermark_key,
                    Touch.touched_at > mark,
                    Touch.hour >= bindparam("first", type_=BigInteger),
                    Touch.hour <= bindparam("last", type_=BigInteger),
                )
                .group_by(Touch.hour)
            )
    statements += checks
    if not statements:
        return None
    return statements[0] if len(statements) == 1 else union_all(*statements)


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
    await custom_plans(session)  # generic plans of the data version read whole ranges
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
    watermarks: list[datetime | None] = []
    first, last = hour_number(start), hour_number(end)
    for entry in by_source.values():
        source = entry.source
        entry.ready = _ready(entry.metrics, state, set(custom_ready)) if use_rollups else []
        if scope.where is not None and scope.group_by is not None:
            entry.ready = []  # rollups hold one dimension at a time
        dimension = scope.group_by or (scope.where[0] if scope.where else "")
        if dimension in source.unrolled:
            entry.ready = []  # a high-cardinality dimension: read raw
        if not entry.ready:
            entry.whole_range_raw = True
            # Raw results still need a data version for the cache key.
        watermarks.append(state.get(source.watermark_key, (None, ""))[0])
    entries = list(by_source.values())
    values: dict[str, Any] = {"org": scope.org_id, "start": start, "end": end}
    values |= {"first": first, "last": last}
    values |= {f"w{number}": mark for number, mark in enumerate(watermarks) if mark is not None}
    if use_rollups:
        for number, entry in enumerate(entries):
            key = entry.source.watermark_key
            values[f"key{number}"] = key
            values[f"sig{number}"] = state.get(key, (None, ""))[1]
    shape = (
        dialect,
        use_rollups,
        tuple(
            (e.source, e.whole_range_raw, w is not None)
            for e, w in zip(entries, watermarks, strict=True)
        ),
    )
    union: Any = _STATEMENTS.get(shape)
    if union is None:
        union = _versions_statement(entries, watermarks, scope, dialect, verify=use_rollups)
        declared = all(m.org_id is None for e in entries for m in e.metrics)
        if declared and scope.account is None and scope.where is None and len(_STATEMENTS) < 256:
            _STATEMENTS[shape] = union
    found: dict[int, list[Any]] = {}
    stale = False
    if union is not None:
        for row in (await session.execute(union, values)).all():
            number = int(row[0])
            if number >= 0:
                found.setdefault(number, []).append(tuple(row[1:]))
                continue
            planned = state.get(entries[-1 - number].source.watermark_key)
            if planned is None:
                stale = stale or bool(row[2])
            else:
                stale = stale or not (row[2] and row[3] == planned[0] and row[4])
    versions: list[Any] = []
    for number, entry in enumerate(by_source.values()):
        source = entry.source
        watermark = watermarks[number]
        dimension = scope.group_by or (scope.where[0] if scope.where else "")
        rows = found.get(number, [])
        dirty_quarters = {int(row[0]) for row in rows if row[1] and row[0] >= 0}
        touched = {-int(row[0]) - 2 for row in rows if row[0] <= -2}
        whole_hours = set(touched)  # read raw whole
        if entry.ready and dimension:
            # Hours where the dimension had too many values to be rolled up.
            overflowed = await session.scalars(
                select(MetricRollup.hour)
                .where(
                    MetricRollup.org_id == scope.org_id,
                    MetricRollup.metric.in_(sorted({place(m)[0] for m in entry.ready})),
                    MetricRollup.dimension == overflow_dimension(dimension),
                    MetricRollup.hour >= first,
                    MetricRollup.hour <= last,
                )
                .distinct()
            )
            whole_hours.update(int(hour) for hour in overflowed)
        versions.append(
            [
                source.name,
                [m.name for m in entry.metrics],
                [m.name for m in entry.ready],
                str(watermark),
                sorted((int(r[0]), int(r[1]), str(r[2]), float(r[3] or 0)) for r in rows),
            ]
        )
        quarters: set[int] = set()
        raw_quarters: set[int] = set()
        if entry.ready and scope.group_by is None and scope.where is None:
            # A dirty hour's clean quarters, and hours cut on a quarter hour, come
            # from quarter-hour rollups; only the dirty quarters are read raw.
            whole_hours |= split & off_quarter
            quarters = ((split - off_quarter) | {q // 4 for q in dirty_quarters}) - whole_hours
            raw_quarters = {q for q in dirty_quarters if q // 4 in quarters}
        else:
            whole_hours |= split | {q // 4 for q in dirty_quarters}
        entry.quarter_hours = {hour for hour in quarters if first <= hour <= last}
        entry.raw_quarters = raw_quarters
        entry.raw_hours = {hour for hour in whole_hours if first <= hour <= last}
        if len(entry.raw_hours) + len(raw_quarters) // 4 > MAX_RAW_HOURS:
            entry.whole_range_raw = True
    fingerprint = hashlib.sha256(
        orjson.dumps([versions, [e.isoformat() for e in edges]], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    return Plan(scope, edges, list(by_source.values()), fingerprint, stale)
