"""A placed call stored with one Core ``INSERT`` instead of the ORM's unit of work.

Every placement stores one new call and reads nothing of it back: the ORM's flush
(state tracking, dependency sorting, a bind per column, then marking the object
persistent) cost about twice the CPU of the same ``INSERT`` sent as a Core
statement. The ``Call`` built by ``placement`` stays a transient object that
answers the request and fills the ``call.queued`` payload; :func:`insert_call`
first gives it, as the flush would, the value of every column default it was not
given or was given as None (its id, the timestamps, ``{}``/``[]``/``0``...), so
what the client reads is what was stored. The row always names every column, so the statement is
compiled once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.models import Call


def _filler(column: Any) -> Callable[[], Any] | None:
    """What the ORM would insert for ``column`` when the object leaves it unset."""
    default = column.default
    if default is None:
        if column.server_default is not None:
            # Only the database would know the value: the answer could not show it.
            raise TypeError(f"calls.{column.key}: a server default needs the ORM's flush")
        return None
    if default.is_scalar:
        value = default.arg
        return lambda: value
    if default.is_callable:
        make = default.arg
        return lambda: make(None)  # SQLAlchemy's wrapper of a no-argument callable
    raise TypeError(f"calls.{column.key}: a SQL default needs the ORM's flush")


def _columns() -> list[tuple[str, str, Callable[[], Any] | None]]:
    found = []
    for attribute in inspect(Call).column_attrs:
        (column,) = attribute.columns
        found.append((attribute.key, column.key, _filler(column)))
    return found


_COLUMNS = _columns()
_TABLE: Table = Call.__table__  # type: ignore[assignment]  # declared as a FromClause
_INSERT = insert(_TABLE)


async def insert_call(session: AsyncSession, call: Call) -> None:
    """Store the transient ``call`` in ``session``'s transaction; IntegrityError as a
    flush would raise it. ``call`` stays out of the session (nothing is tracked)."""
    given = call.__dict__
    row: dict[str, Any] = {}
    for key, column, fill in _COLUMNS:
        value = given.get(key)
        # As the flush: a column with a default left unset, or set to None, gets it.
        if value is None and fill is not None:
            value = fill()
            setattr(call, key, value)
        row[column] = value
    await session.execute(_INSERT, row)
