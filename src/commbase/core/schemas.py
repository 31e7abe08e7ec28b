"""The one pydantic base every API schema derives from."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

MAX_JSON_DEPTH = 32
INT64 = range(-(2**63), 2**63)


def _check_storable(value: Any, depth: int = 0) -> None:
    """Refuse what no database column can hold: NUL, lone surrogates, NaN/Infinity,
    integers beyond 64 bits, and JSON nested deeper than ``MAX_JSON_DEPTH``."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"values may be nested at most {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if value not in INT64:
            raise ValueError("integers must fit in 64 bits (-2^63 to 2^63-1)")
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode (no unpaired surrogates)") from exc
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, depth + 1)
            _check_storable(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item, depth + 1)


class AppSchema(BaseModel):
    """Reads ORM objects, rejects unknown fields, strips surrounding whitespace."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        _check_storable(value)
        return value


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)
