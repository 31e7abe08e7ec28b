"""Rows as plain dicts for an export, and the blank values that erase personal columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, Column, Table, inspect
from sqlalchemy.orm import DeclarativeBase


def is_personal(column: Column[Any]) -> bool:
    return bool(column.info.get("personal"))


def personal_columns(table: Table) -> list[Column[Any]]:
    """The columns of ``table`` marked ``info=PERSONAL``."""
    return [column for column in table.columns if is_personal(column)]


def as_record(row: DeclarativeBase, *, omit: Iterable[str] = ()) -> dict[str, Any]:
    """``row``'s columns by their database names, except those in ``omit`` (secrets)."""
    skipped = set(omit)
    mapper = inspect(row).mapper
    record: dict[str, Any] = {}
    for attribute in mapper.column_attrs:
        name = attribute.columns[0].name
        if name not in skipped:
            record[name] = getattr(row, attribute.key)
    return record


def as_records(
    rows: Iterable[DeclarativeBase], *, omit: Iterable[str] = ()
) -> list[dict[str, Any]]:
    skipped = tuple(omit)
    return [as_record(row, omit=skipped) for row in rows]


def blank_personal(model: type[DeclarativeBase]) -> dict[Column[Any], Any]:
    """UPDATE values that empty every personal column of ``model``'s table.

    Nullable columns become NULL; the others their empty value (``{}`` for JSON,
    ``""`` for text), so a row that must stay keeps satisfying its constraints.
    """
    values: dict[Column[Any], Any] = {}
    for column in inspect(model).columns:
        if not is_personal(column):
            continue
        if column.nullable:
            values[column] = None
        elif isinstance(column.type, JSON):
            values[column] = {}
        else:
            values[column] = ""
    return values
