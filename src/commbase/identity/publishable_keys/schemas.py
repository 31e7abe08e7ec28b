"""Publishable key shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.scopes import IntakeScope
from commbase.core.types import not_null
from commbase.identity.publishable_keys.enums import PublishableKeyStatus


def normalize_origin(value: str) -> str:
    """``https://Shop.Example:443`` -> ``https://shop.example``; raise ValueError unless
    ``value`` is a web origin (scheme, host and optional port; no path, query or user)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an origin") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an origin is http(s)://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("an origin has no path, query, fragment or user")
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


Origin = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(normalize_origin),
]
Origins = Annotated[list[Origin], Field(min_length=1, max_length=20)]
RatePerMinute = Annotated[int, Field(ge=1, le=10_000)]


class PublishableKeyCreate(AppSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scopes: list[IntakeScope] = Field(min_length=1, max_length=len(IntakeScope))
    allowed_origins: Origins = Field(
        description="Web origins (https://shop.example) whose pages may use the key; every "
        "request's Origin header must be one of them"
    )
    rate_limit_per_minute: RatePerMinute = Field(
        default=20, description="Requests per minute from one visitor IP"
    )


class PublishableKeyUpdate(AppSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    scopes: list[IntakeScope] | None = Field(default=None, min_length=1, max_length=16)
    allowed_origins: Origins | None = None
    rate_limit_per_minute: RatePerMinute | None = None

    _required = field_validator("name", "scopes", "allowed_origins", "rate_limit_per_minute")(
        not_null
    )


class PublishableKeyRead(ReadSchema):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    allowed_origins: list[str]
    rate_limit_per_minute: int
    status: PublishableKeyStatus
    created_by: str | None
    revoked_at: datetime | None
    total_requests: int = Field(
        description="Requests made with the key (written every few seconds)"
    )
    first_used_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class PublishableKeyWithSecret(PublishableKeyRead):
    key: str = Field(
        description="The key to embed in the website (cb_pub_...). Shown only in this response."
    )
