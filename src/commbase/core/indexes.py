"""Options shared by the models' indexes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text


def where_set(column: str) -> dict[str, Any]:
    """A partial index's options, on PostgreSQL and SQLite: only the rows where
    ``column`` holds a value. For columns most rows leave empty and queries name a
    value of (which implies NOT NULL, so the planner may use the index): fewer
    entries to write, and none for the rows that have nothing to find."""
    clause = text(f"{column} IS NOT NULL")
    return {"postgresql_where": clause, "sqlite_where": clause}
