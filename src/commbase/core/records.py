"""Rows a statement reads from one JSON document parameter (PostgreSQL).

A batch of rows sent as one JSON array, split by ``json_to_recordset`` on the server:
one parameter however many rows, so one statement built once serves any number of
them (``calls.counting``'s reports, ``core.outbox``'s events and deliveries).
"""

from __future__ import annotations

from sqlalchemy import JSON, String, bindparam, cast, func
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import TableValuedAlias


def json_records(parameter: str, name: str, *columns: ColumnClause[object]) -> TableValuedAlias:
    """``json_to_recordset(CAST(:parameter AS json)) AS name(column type, ...)``: the
    rows of the JSON array bound to ``parameter`` (text), with ``columns``' names and
    types; a key missing from an object reads as null."""
    return (
        func.json_to_recordset(cast(bindparam(parameter, type_=String), JSON))
        .table_valued(*columns)
        .render_derived(name=name, with_types=True)
    )
