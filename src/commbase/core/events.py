"""The catalogue of domain event types: name, description and payload schema.

Each domain declares the events it emits in its ``events.py``::

    CALL_COMPLETED = define("call.completed", CallPayload, "A call reached a final state.")

``outbox.record`` refuses a type that is not declared and validates the payload
against its model (extra fields forbidden), so the catalogue that
``GET /v1/webhooks/event-types`` publishes is the code, and cannot drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class EventPayload(BaseModel):
    """Base of every payload model: exactly the declared fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass(frozen=True)
class EventType:
    name: str
    payload: type[EventPayload]
    description: str

    def json_schema(self) -> dict[str, Any]:
        return self.payload.model_json_schema(by_alias=True)


class UndeclaredEvent(ValueError):
    """An event type nobody declared, or a payload that does not match its model."""


_catalogue: dict[str, EventType] = {}


def define(name: str, payload: type[EventPayload], description: str) -> str:
    """Declare an event type; returns its name, for use as a constant."""
    _catalogue[name] = EventType(name, payload, description)
    return name


def event_types() -> list[EventType]:
    return [_catalogue[name] for name in sorted(_catalogue)]


def check(name: str, payload: dict[str, Any]) -> None:
    """Raise UndeclaredEvent unless ``payload`` is a valid ``name`` payload."""
    declared = _catalogue.get(name)
    if declared is None:
        raise UndeclaredEvent(f"event type {name!r} is not declared in any events.py")
    try:
        declared.payload.model_validate(payload)
    except ValidationError as exc:
        raise UndeclaredEvent(f"payload of {name!r} does not match its model: {exc}") from exc
