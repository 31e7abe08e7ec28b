"""The few SQL expressions that differ between PostgreSQL and SQLite."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Dialect,
    Float,
    Integer,
    Text,
    TypeDecorator,
    case,
    cast,
    func,
    literal,
    literal_column,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from commbase.core.db import UTCDateTime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hour_number(moment: datetime) -> int:
    """Hours since the Unix epoch of the hour containing ``moment``."""
    return int((moment - EPOCH).total_seconds() // 3600)


def hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, tz=UTC)


def _epoch(column: Any) -> Any:
    """PostgreSQL: seconds since the epoch as a double. ``date_part`` answers a double
    where ``extract`` (PostgreSQL 14+) answers a numeric, several times slower to
    divide; a double holds a microsecond timestamp exactly enough for hour edges."""
    return func.date_part("epoch", column)


def hour_of(column: Any, dialect: str) -> ColumnElement[int]:
    """The epoch hour of a timestamp column, as an integer."""
    if dialect == "postgresql":
        return cast(func.floor(_epoch(column) / 3600), BigInteger)
    return cast(func.strftime("%s", column), Integer) // 3600


def quarter_number(column: Any, dialect: str) -> ColumnElement[int]:
    """Quarter hours since the Unix epoch of a timestamp column, as an integer
    (``quarter_number // 4`` is ``hour_of``, ``quarter_number % 4`` is ``quarter_of``)."""
    if dialect == "postgresql":
        return cast(func.floor(_epoch(column) / 900), BigInteger)
    return cast(func.strftime("%s", column), Integer) // 900


def quarter_start(quarter: int) -> datetime:
    return datetime.fromtimestamp(quarter * 900, tz=UTC)


def quarter_of(column: Any, dialect: str) -> ColumnElement[int]:
    """Which quarter (0-3) of its UTC hour a timestamp falls in."""
    if dialect == "postgresql":
        return cast(func.floor(_epoch(column) / 900), BigInteger) % 4
    return (cast(func.strftime("%s", column), Integer) // 900) % 4


def minute_of(column: Any, dialect: str) -> ColumnElement[int]:
    """Minutes since the epoch of a timestamp column, as an integer."""
    if dialect == "postgresql":
        return cast(func.floor(_epoch(column) / 60), BigInteger)
    return cast(func.strftime("%s", column), Integer) // 60


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[float]:
    """Seconds since the epoch, fractions kept (a change fingerprint)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return cast((func.julianday(column) - 2440587.5) * 86400.0, Float)


def interval_index(
    column: Any, edges: list[Any], dialect: str, *, hours: bool = False
) -> ColumnElement[int]:
    """Which piece of ``edges`` (0-based) a value falls in; -1 before, len-1 after.

    ``hours`` says the column holds epoch hours and the edges are integers.
    """
    if dialect == "postgresql":
        if hours:
            thresholds: Any = literal(edges, ARRAY(BigInteger))
        else:
            thresholds = literal(edges, ARRAY(TIMESTAMP(timezone=True)))
        return func.width_bucket(column, thresholds) - 1
    # A balanced tree of CASEs: log2(len(edges)) comparisons per row, not len(edges).
    bounds = [edge if hours else literal(edge, UTCDateTime()) for edge in edges]

    def below(low: int, high: int) -> Any:
        """The index for a value known to lie in [edges[low], edges[high]) ... clamped."""
        if high - low <= 1:
            return literal(low)
        middle = (low + high) // 2
        return case((column < bounds[middle], below(low, middle)), else_=below(middle, high))

    return case(
        (column < bounds[0], literal(-1)),
        (column >= bounds[-1], literal(len(edges) - 1)),
        else_=below(0, len(edges) - 1),
    )


_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class json_number(FunctionElement[float]):
    """The number at ``path`` in a JSON column, or NULL when it holds anything else.

    A plain cast fails the whole statement on PostgreSQL for one value like
    ``"lots"``; this reads only JSON numbers, on both databases. The path's keys
    are written into the SQL (they are checked to be ``[A-Za-z0-9_-]``), so
    statements holding it are not cached.
    """

    type = Float()
    inherit_cache = False
    name = "json_number"

    def __init__(self, column: Any, path: tuple[str, ...]) -> None:
        if not path or not all(_KEY.fullmatch(key) for key in path):
            raise ValueError(f"JSON path keys are [A-Za-z0-9_-]{{1,64}}: {path!r}")
        self.path = path
        super().__init__(column)


@compiles(json_number, "postgresql")
def _json_number_postgresql(element: json_number, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    path = "'{" + ",".join(element.path) + "}'"
    return (
        f"CASE WHEN jsonb_typeof({column} #> {path}) = 'number' "
        f"THEN CAST({column} #>> {path} AS DOUBLE PRECISION) END"
    )


@compiles(json_number, "sqlite")
def _json_number_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    path = "'$" + "".join(f'."{key}"' for key in element.path) + "'"
    return (
        f"CASE WHEN json_type({column}, {path}) IN ('integer', 'real') "
        f"THEN json_extract({column}, {path}) END"
    )


class seconds_between(FunctionElement[float]):
    """Seconds from one timestamp column to another (fractions kept), on both databases:
    a metric's ``value`` (rollups compile it for whichever database they run on)."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "postgresql")
def _seconds_between_postgresql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    # julianday is a double of days: milliseconds are what it keeps exactly.
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


# ------------------------------------------------------------------ packed (count, sum) arrays
# A rollup row keeps the (count, sum) of every metric of its pack in one array:
# ``[c0, s0, c1, s1, ...]``, a float8[] on PostgreSQL and a JSON array on SQLite.
# Counts are exact in a double up to 2**53.


class Numbers(TypeDecorator[list[float]]):
    """A list of numbers: ``double precision[]`` on PostgreSQL, JSON text on SQLite."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Float(precision=53)))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(list(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.loads(value)


class number_array(FunctionElement[list[float]]):
    """An array of the given numeric expressions (a rollup row's packed values)."""

    type = Numbers()
    inherit_cache = True
    name = "number_array"


@compiles(number_array, "postgresql")
def _number_array_postgresql(element: number_array, compiler: Any, **kw: Any) -> str:
    items = ", ".join(
        f"CAST({compiler.process(clause, **kw)} AS DOUBLE PRECISION)" for clause in element.clauses
    )
    return f"ARRAY[{items}]::DOUBLE PRECISION[]"


@compiles(number_array, "sqlite")
def _number_array_sqlite(element: number_array, compiler: Any, **kw: Any) -> str:
    return f"json_array({compiler.process(element.clauses, **kw)})"


class number_at(FunctionElement[float]):
    """Element ``position`` (0-based) of a packed array column, a number.

    The position is written into the SQL as a literal, so statements stay cached."""

    type = Float()
    inherit_cache = True
    name = "number_at"

    def __init__(self, column: Any, position: int) -> None:
        super().__init__(column, literal_column(str(int(position))))


def _position(element: number_at) -> tuple[Any, int]:
    column, position = list(element.clauses)
    return column, int(position.name)


@compiles(number_at, "postgresql")
def _number_at_postgresql(element: number_at, compiler: Any, **kw: Any) -> str:
    column, position = _position(element)
    return f"({compiler.process(column, **kw)})[{position + 1}]"


@compiles(number_at, "sqlite")
def _number_at_sqlite(element: number_at, compiler: Any, **kw: Any) -> str:
    column, position = _position(element)
    return f"json_extract({compiler.process(column, **kw)}, '$[{position}]')"
