"""Where a range's pieces begin, in hours and quarter hours since the epoch, and which
piece a fact or a rollup row belongs to (``query.py`` reads by piece)."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

from commbase.analytics.sql import EPOCH, interval_index, minute_of

_HOUR, _QUARTER = timedelta(hours=1), timedelta(minutes=15)


def ceil_hour(moment: datetime) -> int:
    """The first hour (since the epoch) starting at or after ``moment``."""
    hour, rest = divmod(moment - EPOCH, _HOUR)
    return int(hour) + bool(rest)


def ceil_quarter(moment: datetime) -> int:
    """The first quarter hour (since the epoch) starting at or after ``moment``."""
    quarter, rest = divmod(moment - EPOCH, _QUARTER)
    return int(quarter) + bool(rest)


class Pieces:
    """Which piece of the range a fact (by its time) or a rollup hour belongs to.

    PostgreSQL answers in SQL (``width_bucket``). SQLite would need a CASE per edge,
    so with many edges it groups by hour (rollups) or minute (raw facts) and the
    piece is found here by bisection; interval edges fall on whole minutes.
    """

    def __init__(self, edges: list[datetime], dialect: str) -> None:
        self.edges = edges
        self.dialect = dialect
        self.hour_edges = [ceil_hour(edge) for edge in edges]
        self.quarter_edges = [ceil_quarter(edge) for edge in edges]
        interior = edges[1:-1]
        self.minutes = [int((edge - EPOCH).total_seconds() // 60) for edge in interior]
        self.in_sql = (
            dialect == "postgresql"
            or len(edges) <= 32
            or any(edge.second or edge.microsecond for edge in interior)
        )

    def hour_key(self, column: Any) -> Any:
        return self._numbered_key(column, self.hour_edges)

    def hour_piece(self, value: Any) -> int:
        return self._numbered_piece(value, self.hour_edges)

    def quarter_key(self, column: Any) -> Any:
        return self._numbered_key(column, self.quarter_edges)

    def quarter_piece(self, value: Any) -> int:
        return self._numbered_piece(value, self.quarter_edges)

    def _numbered_key(self, column: Any, edges: list[int]) -> Any:
        """The piece of ``column`` (hours or quarter hours since the epoch) in SQL, or
        the column itself for ``_numbered_piece`` to place."""
        return interval_index(column, edges, self.dialect, hours=True) if self.in_sql else column

    def _numbered_piece(self, value: Any, edges: list[int]) -> int:
        return int(value) if self.in_sql else bisect_right(edges, int(value)) - 1

    def time_key(self, column: Any) -> Any:
        if self.in_sql:
            return interval_index(column, self.edges, self.dialect)
        return minute_of(column, self.dialect)

    def time_piece(self, value: Any) -> int:
        return int(value) if self.in_sql else bisect_right(self.minutes, int(value))
