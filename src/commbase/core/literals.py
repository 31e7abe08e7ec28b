"""Constant lists written into a statement's text, for statements built once.

``column.in_(values)`` makes an *expanding* parameter: SQLAlchemy spells the list
out by rendering the statement's text again at every execution (its compiled form is
cached, the rendered text is not). For a statement built once and run on every
request that is work done again each time for nothing: 70-170 us of CPU for a short
``SELECT count(*)``, more for a long statement (a placement's INSERT with its CTEs),
against ~160 us for all the rest of running it. :func:`among` writes the values into
the text instead, so it is rendered once, with the statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, literal_column

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
