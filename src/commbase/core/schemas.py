"""The one pydantic base every API schema derives from."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def _check_storable(value: Any) -> None:
    """Refuse what no database column can hold: NUL, lone surrogates, NaN/Infinity."""
    if isinstance(value, str):
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
            _check_storable(key)
            _check_storable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item)


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
