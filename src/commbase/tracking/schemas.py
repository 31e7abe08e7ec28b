"""Tracking API shapes: telemetry events, pageviews and visitors (lab runs: ``engagement/lab``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Required
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)
from typing_extensions import TypedDict

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import UtcDateTime

NAME_PATTERN = r"^[A-Za-z0-9_.:-]+$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NAME_PATTERN)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


def _web_address(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError("is not a URL") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL with a host")
    return value


# The page a pageview is of: an http(s) address (no javascript:, data: or file: URLs).
PageUrl = Annotated[Url, AfterValidator(_web_address)]
Utm = Annotated[str, StringConstraints(max_length=200)]


class EventMetadata(TypedDict, total=False):
    """Where an event came from; other keys are kept as sent."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    ip_address: Annotated[str, StringConstraints(max_length=45, pattern=r"^[0-9A-Fa-f:.]+$")]
    user_agent: Annotated[str, StringConstraints(max_length=1024)]
    sdk_version: Annotated[str, StringConstraints(max_length=50)]


# AppSchema's configuration without its general check of every field: that check (a
# Python call per field, nine per event) would cost more than the rest of validation on
# the path that must be fastest. The batch is parsed by orjson, which refuses NaN,
# Infinity and lone surrogates; ingest rejects events carrying NUL, JSON nested too deep
# and integers beyond 64 bits (``tracking.batches``, ``tracking.events``).
class TrackEvent(BaseModel):
    """One telemetry event, as sent in a batch to ``POST /v1/track/events``."""

    model_config = AppSchema.model_config

    id: ClientId | None = Field(
        default=None, description="Your id for this event; a replay with the same id is ignored"
    )
    type: Name = Field(description="e.g. call.quality_degraded, balance.low, rate_limit.hit")
    user_id: Reference | None = None
    session_id: Reference | None = None
    call_id: Reference | None = None
    visitor_id: Reference | None = None
    account_id: Reference | None = Field(default=None, description="Channel account")
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: EventMetadata = Field(default_factory=lambda: EventMetadata())
    # AwareDatetime, not UtcDateTime: validated in Rust on the path that must be fastest
    # (a Python validator per event costs half as much again). A naive time is still
    # refused; one at a calendar edge is refused by ingest's bounds (retention, a day
    # ahead), and comparing aware datetimes never overflows.
    timestamp: AwareDatetime | None = Field(default=None, description="When it happened (now)")
    expires_at: AwareDatetime | None = Field(
        default=None, description="When to delete it (timestamp + the organization's period)"
    )


class TrackEventItem(TypedDict, total=False):
    """``TrackEvent`` as ingest validates it: the same fields, constraints and
    configuration, read into a plain dict (absent fields stay absent). Validating
    parsed JSON into dicts costs a batch about half as much as building models from
    its bytes; ``TrackEvent`` remains the documented shape (OpenAPI)."""

    __pydantic_config__ = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[misc]

    id: ClientId | None
    type: Required[Name]
    user_id: Reference | None
    session_id: Reference | None
    call_id: Reference | None
    visitor_id: Reference | None
    account_id: Reference | None
    data: dict[str, Any]
    metadata: EventMetadata
    timestamp: AwareDatetime | None
    expires_at: AwareDatetime | None


class RejectedEvent(ReadSchema):
    index: int = Field(description="Position of the event in the batch, from 0")
    id: str | None = Field(description="The event's id when it had a readable one")
    errors: list[dict[str, Any]] = Field(description="[{loc, field, message, type}]")


class TrackResult(ReadSchema):
    accepted: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Events whose id was already stored (or repeated)")
    rejected: list[RejectedEvent]


class PageviewCreate(AppSchema):
    url: PageUrl = Field(description="The page's address (http or https)")
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    referrer: Url | None = None
    visitor_id: Reference | None = Field(
        default=None, description="Your own visitor id (a first-party cookie); else derived"
    )
    user_id: Reference | None = None
    utm_source: Utm | None = None
    utm_medium: Utm | None = None
    utm_campaign: Utm | None = None
    utm_term: Utm | None = None
    utm_content: Utm | None = None
    timestamp: UtcDateTime | None = None


class PageviewRead(ReadSchema):
    pageview_id: str
    visitor_id: str
    session_id: str
    new_session: bool


class VisitorCreate(AppSchema):
    visitor_id: Reference | None = None
    user_id: Reference | None = None
    language: Annotated[str, StringConstraints(max_length=35)] | None = None
    screen: (
        Annotated[str, StringConstraints(max_length=20, pattern=r"^\d{1,5}x\d{1,5}$")] | None
    ) = Field(default=None, description="e.g. 1920x1080")
    referrer: Url | None = None
    utm_source: Utm | None = None
    utm_medium: Utm | None = None
    utm_campaign: Utm | None = None


class VisitorRead(ReadSchema):
    visitor_id: str
    session_id: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    pageviews: int
    sessions: int
