"""API shapes for contacts: ``ContactCreate`` / ``ContactUpdate`` in, ``ContactRead`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
)

from commbase.contacts.enums import OwnerKind
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Name, Phone, ShortText

MAX_LABELS = 50
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTES_BYTES = 16_384


def _unique_labels(labels: list[str]) -> list[str]:
    """Drop repeated labels, keeping the first occurrence's position."""
    return list(dict.fromkeys(labels))


def _bounded_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(attributes)
    except orjson.JSONEncodeError as exc:  # integers beyond 64 bits, nesting past 255
        raise ValueError(f"attributes cannot be stored: {exc}") from exc
    if len(encoded) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes must serialise to at most {MAX_ATTRIBUTES_BYTES} bytes")
    return attributes


Label = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Labels = Annotated[list[Label], Field(max_length=MAX_LABELS), AfterValidator(_unique_labels)]
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=60)]
Attributes = Annotated[
    dict[AttributeKey, Any],
    Field(max_length=MAX_ATTRIBUTES, description="Free-form; a null value removes a key on update"),
    AfterValidator(_bounded_attributes),
]
Notes = Annotated[str, StringConstraints(max_length=10_000)]


class ContactMetadata(AppSchema):
    company: ShortText | None = None
    department: ShortText | None = None
    title: ShortText | None = None
    email: EmailStr | None = None


class ContactCreate(AppSchema):
    name: Name
    phone: Phone | None = Field(
        default=None,
        description="Any international format; stored E.164. At most one contact of the "
        "organization has a given number",
    )
    labels: Labels = Field(default_factory=list)
    notes: Notes | None = None
    metadata: ContactMetadata = Field(default_factory=ContactMetadata)
    attributes: Attributes = Field(default_factory=dict)
    blocked: bool = False


class ContactUpdate(AppSchema):
    """Fields sent replace stored ones; ``metadata`` and ``attributes`` merge key by key."""

    name: Name | None = None
    phone: Phone | None = None
    labels: Labels | None = None
    notes: Notes | None = None
    metadata: ContactMetadata | None = None
    attributes: Attributes | None = None
    blocked: bool | None = None

    @field_validator("name", "labels", "metadata", "attributes", "blocked")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the client sent: an explicit null cannot be stored.
        if value is None:
            raise ValueError("may not be null")
        return value


class ContactStats(ReadSchema):
    total_calls: int
    first_called_at: datetime | None
    last_called_at: datetime | None
    total_duration: int = Field(description="Seconds")

    @computed_field(description="Seconds per call, rounded; 0 before the first call")  # type: ignore[prop-decorator]
    @property
    def average_duration(self) -> int:
        return round(self.total_duration / self.total_calls) if self.total_calls else 0


class ContactRead(ReadSchema):
    id: str
    owner_user_id: str | None
    owner_agent_session_id: str | None
    owner_kind: OwnerKind
    name: str
    phone: str | None = Field(description="E.164, e.g. +420601123456")
    phone_formatted: str | None = Field(description="International format, e.g. +420 601 123 456")
    labels: list[str]
    notes: str | None
    metadata: dict[str, Any]
    attributes: dict[str, Any]
    blocked: bool
    stats: ContactStats
    created_at: datetime
    updated_at: datetime
