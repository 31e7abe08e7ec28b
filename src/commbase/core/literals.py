"""Constant lists written into a statement's text, for statements built once.

``column.in_(values)`` makes an *expanding* parameter: SQLAlchemy spells the list
out by rendering the statement's text again at every execution (its compiled form is
cached, the rendered text is not). For a statement built once and run on every
request that is work done again each time for nothing: 70-170 us of CPU for a short
``SELECT count(*)``, more for a long statement (a placement's INSERT with its CTEs),
against ~160 us for all the rest of running it. :func:`among` writes the values into
the text instead, so it is rendered once, with the statement. :func:`listed` is for a
list known only at execution (a batch's ids): on PostgreSQL one array parameter
(``= ANY``), one text however long the list; elsewhere the expanding ``IN``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

from sqlalchemy import Boolean, ColumnElement, any_, bindparam, literal_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

# What a constant may be: an enum's value, never input (no quote can be written).
_PLAIN = re.compile(r"[A-Za-z0-9_.:-]+")


def among(column: Any, values: Iterable[str | Enum]) -> ColumnElement[bool]:
    """``column IN ('a', 'b', ...)`` with the values in the statement's text (the
    same SQL on PostgreSQL and SQLite), sorted: a set gives the same text in every
    process. ValueError for a value that is not plain text (letters, digits,
    ``_ . : -``) or for no values at all."""
    literals = []
    for value in sorted({str(v.value if isinstance(v, Enum) else v) for v in values}):
        if not _PLAIN.fullmatch(value):
            raise ValueError(f"not a plain constant: {value!r}")
        literals.append(literal_column(f"'{value}'", type_=column.type))
    if not literals:
        raise ValueError("among() needs at least one value")
    return column.in_(literals)  # type: ignore[no-any-return]


def listed(column: Any, parameter: str) -> ColumnElement[bool]:
    """``column`` is one of the list bound to ``parameter`` when the statement runs:
    ``column = ANY(:parameter)`` on PostgreSQL (rendered once, with the statement),
    ``column IN (...)`` elsewhere."""
    return _Listed(getattr(column, "expression", column), parameter)


class _Listed(ColumnElement[bool]):
    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a predicate as it stands (no ``= 1`` on SQLite)
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("parameter", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any], parameter: str) -> None:
        self.column = column
        self.parameter = parameter


@compiles(_Listed)
def _expanding(element: _Listed, compiler: Any, **kw: Any) -> str:
    values = bindparam(element.parameter, expanding=True, type_=element.column.type)
    return str(compiler.process(element.column.in_(values), **kw))


@compiles(_Listed, "postgresql")
def _array(element: _Listed, compiler: Any, **kw: Any) -> str:
    values = bindparam(element.parameter, type_=ARRAY(element.column.type))
    return str(compiler.process(element.column == any_(values), **kw))
