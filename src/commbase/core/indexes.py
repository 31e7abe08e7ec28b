"""Options shared by the models' indexes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, literal_column, text, type_coerce
from sqlalchemy.orm import InstrumentedAttribute


def where_set(column: str) -> dict[str, Any]:
    """A partial index's options, on PostgreSQL and SQLite: only the rows where
    ``column`` holds a value. For columns most rows leave empty and queries name a
    value of (which implies NOT NULL, so the planner may use the index): fewer
    entries to write, and none for the rows that have nothing to find."""
    clause = text(f"{column} IS NOT NULL")
    return {"postgresql_where": clause, "sqlite_where": clause}


def unindexed(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[str]:
    """``column`` as an expression no index serves (``column || ''``, the same text
    on PostgreSQL and SQLite): a condition on it is checked on the rows another
    condition finds, never used to find them.

    For a row found by its primary key and checked for its tenant and state (``id =
    ? AND org_id = ? AND status = ?``): PostgreSQL estimates every condition at one
    row while the table's statistics say it holds few rows -- a table analyzed when
    nearly empty, an organization grown since the last ANALYZE -- and may take an
    index on ``(org_id, ...)`` or ``(..., status)``, reading every row of the
    organization (or every entry of the index) to find one: 2,000 rows, ~1 ms, per
    dial in ``bench/calls.py``'s fresh database. With the other conditions written
    this way the primary key is the only way in, whatever the statistics say."""
    return type_coerce(column, String()).concat(literal_column("''"))
