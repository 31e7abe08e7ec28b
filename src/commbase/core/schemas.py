"""The one pydantic base every API schema derives from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AppSchema(BaseModel):
    """Reads ORM objects, rejects unknown fields, strips surrounding whitespace."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", str_strip_whitespace=True)


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)
