"""The statements that fold a range of hours of one source into rollup rows.

Everything happens in the database: the facts of the range are grouped by
(hour, account, dimension value) and each group becomes one row holding the
(count, sum) of every metric of its pack (``models.MetricRollup``), with one
``INSERT ... SELECT ... GROUP BY``. PostgreSQL reads the facts once for every
dimension (``GROUPING SETS``); SQLite, which has none, once per dimension.

A dimension with more than ``MAX_VALUES_PER_HOUR`` (account, value) groups in an
hour is not rolled up for that hour: one marker row
(``aggregates.overflow_dimension``) stands for it, so a busy hour's rows stay
bounded whatever the number of users or metrics, and reads by that dimension
take the hour from raw facts. The 24-hour windows overlapping the range are
then rebuilt from its quarter-hour rows (``windows.py``).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    CTE,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy import column as sa_column
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics.aggregates import (
    MAX_VALUES_PER_HOUR,
    count_and_sum,
    dimension_value,
    layout,
    overflow_dimension,
)
from commbase.analytics.models import MetricRollup
from commbase.analytics.registry import QUARTER, Metric, Source
from commbase.analytics.sql import hour_of, hour_start, number_array, quarter_of
from commbase.analytics.windows import rebuild_windows
from commbase.core.db import rowcount

ROLLUPS = cast(Table, MetricRollup.__table__)  # Core inserts: no ORM bookkeeping
COLUMNS = ["org_id", "metric", "dimension", "hour", "value", "account", "totals"]


# PostgreSQL settings for the fold's transaction. Its statements are large (every
# metric's aggregates, every dimension): JIT compiling them costs more than running
# them, and hash aggregation needs room beyond the default 4 MB.
FOLD_SETTINGS = {"jit": "off", "work_mem": "64MB"}
# PostgreSQL: every dimension in one GROUPING SETS statement (True) or one each.
GROUPING_SETS = True


def planner_statistics(table: str, column: str) -> list[tuple[str, str]]:
    """PostgreSQL extended statistics (name, expression) that let the planner count a
    fold's groups: the hour and the quarter-hour value of ``table.column``, written
    exactly as the fold writes them (the planner matches them by expression).

    Without them PostgreSQL takes an expression of a timestamp to have as many
    values as the timestamp (about one per fact), estimates a group per fact, finds
    the hash tables too large for ``work_mem`` and sorts the facts once per
    dimension (``GroupAggregate``); with them it hashes every grouping set in one
    pass. Migration 0045 creates them for every declared source's time column.
    """
    dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]
    time: Any = sa_column(column)
    expressions: dict[str, Any] = {
        "hour": hour_of(time, "postgresql"),
        "quarter": dimension_value(quarter_of(time, "postgresql")),
    }
    return [
        (
            f"cb_fold_{name}_{table}"[:63],
            str(expression.compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
        )
        for name, expression in expressions.items()
    ]


async def tune_for_folding(session: AsyncSession) -> None:
    """Settings for the rest of the fold's transaction (PostgreSQL; ``SET LOCAL``)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name, value in FOLD_SETTINGS.items():
        await session.execute(text(f"SET LOCAL {name} = '{value}'"))


def packs_of(metrics: list[Metric], key: str) -> dict[str, list[Metric]]:
    """Each pack's metrics in the order of its array."""
    places = layout(metrics, key)
    packs: dict[str, list[Metric]] = {}
    for metric in sorted(metrics, key=lambda m: places[m.name]):
        packs.setdefault(places[metric.name][0], []).append(metric)
    return packs


def _pack_items(packs: dict[str, list[Metric]], grouped: Any) -> dict[str, list[Any]]:
    """Each pack's array items: the (count, sum) columns of its metrics, in order."""
    found: dict[str, list[Any]] = {}
    offset = 0
    for pack, members in packs.items():
        items: list[Any] = []
        for position in range(offset, offset + 2 * len(members), 2):
            total = func.coalesce(grouped.c[f"a{position + 1}"], 0)
            items += [grouped.c[f"a{position}"], total]
        offset += 2 * len(members)
        found[pack] = items
    return found


def _branches(
    org_id: str,
    packs: dict[str, list[Metric]],
    grouped: CTE,
    dimension: str,
    value: Any,
    only: Any,
) -> list[Any]:
    """The rows of one dimension, from ``grouped`` rows matching ``only``: one per
    group and pack, or one marker per pack and hour with too many groups."""
    capped = dimension not in ("", QUARTER)
    branches: list[Any] = []
    for pack, items in _pack_items(packs, grouped).items():
        row = select(
            literal(org_id),
            literal(pack),
            literal(dimension),
            grouped.c.hour,
            value,
            grouped.c.account,
            number_array(*items),
        ).where(only)
        if not capped:
            branches.append(row)
            continue
        branches.append(row.where(grouped.c.n <= MAX_VALUES_PER_HOUR))
        branches.append(
            select(
                literal(org_id),
                literal(pack),
                literal(overflow_dimension(dimension)),
                grouped.c.hour,
                literal(""),
                literal(""),
                number_array(),
            )
            .where(only, grouped.c.n > MAX_VALUES_PER_HOUR)
            .distinct()
        )
    return branches


async def fold_range(
    session: AsyncSession,
    org_id: str,
    metrics: list[Metric],
    first_hour: int,
    last_hour: int,
) -> int:
    """Recompute hours [first_hour, last_hour] of ``metrics`` (one source) for one org."""
    if not metrics:
        return 0
    dialect = session.get_bind().dialect.name
    source: Source = metrics[0].source  # type: ignore[assignment]
    packs = packs_of(metrics, source.watermark_key)
    dimensions: list[tuple[str, Any]] = [
        ("", None),
        (QUARTER, quarter_of(source.time, dialect)),
        *source.rolled_dimensions.items(),
    ]
    # Every dimension the fold writes is named (the primary key's third column), so
    # the delete reads the hours' index ranges instead of every hour of the packs.
    written_dimensions = [name for name, _ in dimensions] + [
        overflow_dimension(name) for name in source.rolled_dimensions
    ]
    await session.execute(
        delete(MetricRollup).where(
            MetricRollup.org_id == org_id,
            MetricRollup.metric.in_(list(packs)),
            MetricRollup.dimension.in_(written_dimensions),
            MetricRollup.hour >= first_hour,
            MetricRollup.hour <= last_hour,
        )
    )
    ordered = [metric for pack in packs.values() for metric in pack]
    columns = [
        aggregate.label(f"a{position}") for position, aggregate in enumerate(count_and_sum(ordered))
    ]
    hour = hour_of(source.time, dialect).label("hour")
    account = func.coalesce(source.account if source.account is not None else literal(""), "")
    facts = select().where(
        source.org == org_id,
        source.base_filter(),
        source.time >= hour_start(first_hour),
        source.time < hour_start(last_hour + 1),
    )
    if dialect == "postgresql" and GROUPING_SETS:
        statements = [_grouping_sets(org_id, packs, dimensions, facts, hour, account, columns)]
    else:
        statements = [
            _one_dimension(org_id, packs, name, expression, facts, hour, account, columns)
            for name, expression in dimensions
        ]
    written = 0
    for statement in statements:
        result = await session.execute(statement)
        written += max(rowcount(result), 0)
    # The windows holding these hours, from their rows as just written.
    return written + await rebuild_windows(session, org_id, list(packs), first_hour, last_hour)


def _one_dimension(
    org_id: str,
    packs: dict[str, list[Metric]],
    dimension: str,
    expression: Any,
    facts: Any,
    hour: Any,
    account: Any,
    columns: list[Any],
) -> Any:
    value = dimension_value(expression) if expression is not None else literal("")
    counted = [func.count().over(partition_by=hour).label("n")]
    grouped = (
        facts.add_columns(hour, account.label("account"), value.label("value"), *columns, *counted)
        .group_by(hour, account, value)
        .cte("grouped")
    )
    branches = _branches(org_id, packs, grouped, dimension, grouped.c.value, literal(True))
    return insert(ROLLUPS).from_select(COLUMNS, union_all(*branches))


def _grouping_sets(
    org_id: str,
    packs: dict[str, list[Metric]],
    dimensions: list[tuple[str, Any]],
    facts: Any,
    hour: Any,
    account: Any,
    columns: list[Any],
) -> Any:
    """Every dimension in one read of the facts: GROUP BY GROUPING SETS.

    The sets name the select's output columns (``fold_*``, names no table has), so
    each expression is written once. A set leaves the other dimensions' values
    NULL, which no value is (``dimension_value`` turns none into ''): that tells
    which dimension a group is of, and the first value not NULL is the group's.
    The groups are read twice: once to find the (hour, dimension) pairs with too
    many values (few or none), once to write every other group with its
    dimension's name -- not once per dimension and pack, nor sorted for a window.
    """
    names = [f"fold_v{number}" for number in range(len(dimensions))]
    values = [
        dimension_value(expression).label(names[number])
        for number, (_, expression) in enumerate(dimensions)
        if expression is not None
    ]
    keys: list[Any] = [literal_column("fold_hour"), literal_column("fold_account")]
    sets = [tuple_(*keys)] + [tuple_(*keys, literal_column(v.name)) for v in values]
    inner = (
        facts.add_columns(hour.label("fold_hour"), account.label("fold_account"), *values, *columns)
        .group_by(func.grouping_sets(*sets))
        .subquery("sets")
    )
    present = [
        number for number, (_, expression) in enumerate(dimensions) if expression is not None
    ]
    which = case(*((inner.c[names[number]].is_not(None), number) for number in present), else_=0)
    grouped = select(inner, which.label("dim")).cte("grouped")
    capped = [
        number for number, (dimension, _) in enumerate(dimensions) if dimension not in ("", QUARTER)
    ]
    crowded = (
        select(grouped.c.fold_hour.label("hour"), grouped.c.dim)
        .where(grouped.c.dim.in_(capped))
        .group_by(grouped.c.fold_hour, grouped.c.dim)
        .having(func.count() > MAX_VALUES_PER_HOUR)
        .cte("crowded")
    )
    dimension_name = case(
        *((grouped.c.dim == number, literal(dimensions[number][0])) for number in present),
        else_=literal(""),
    )
    marker_name = case(
        *(
            (crowded.c.dim == number, literal(overflow_dimension(dimensions[number][0])))
            for number in capped
        ),
        else_=literal(""),
    )
    value = func.coalesce(*(grouped.c[names[number]] for number in present), literal(""))
    kept = grouped.outerjoin(
        crowded, and_(crowded.c.hour == grouped.c.fold_hour, crowded.c.dim == grouped.c.dim)
    )
    branches: list[Any] = []
    for pack, items in _pack_items(packs, grouped).items():
        branches.append(
            select(
                literal(org_id),
                literal(pack),
                dimension_name,
                grouped.c.fold_hour,
                value,
                grouped.c.fold_account,
                number_array(*items),
            )
            .select_from(kept)
            .where(crowded.c.hour.is_(None))
        )
        if capped:
            branches.append(
                select(
                    literal(org_id),
                    literal(pack),
                    marker_name,
                    crowded.c.hour,
                    literal(""),
                    literal(""),
                    number_array(),
                )
            )
    return insert(ROLLUPS).from_select(COLUMNS, union_all(*branches))
