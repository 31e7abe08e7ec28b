"""API key shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.scopes import Scope
from commbase.core.types import Cidr, UtcDateTime, not_null
from commbase.identity.enums import ApiKeyEnvironment, ApiKeyStatus


class ApiKeyCreate(AppSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    environment: ApiKeyEnvironment = Field(
        default=ApiKeyEnvironment.LIVE,
        description="test keys (cb_test_) never reach real carriers or payment providers",
    )
    scopes: list[Scope] | None = Field(
        default=None, description="Defaults to every scope the creator holds", max_length=64
    )
    allowed_ips: list[Cidr] = Field(default_factory=list, max_length=100)
    rate_limit_tier: Annotated[str, StringConstraints(max_length=20)] = "standard"
    max_concurrent_calls: Annotated[int, Field(ge=1, le=10_000)] = 10
    expires_at: UtcDateTime | None = None


class ApiKeyUpdate(AppSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    allowed_ips: list[Cidr] | None = Field(default=None, max_length=100)
    rate_limit_tier: Annotated[str, StringConstraints(max_length=20)] | None = None
    max_concurrent_calls: Annotated[int, Field(ge=1, le=10_000)] | None = None

    _required = field_validator("name", "allowed_ips", "rate_limit_tier", "max_concurrent_calls")(
        not_null
    )


class ApiKeyRotate(AppSchema):
    grace_period_s: Annotated[int, Field(ge=0, le=7 * 86_400)] | None = Field(
        default=None, description="How long the old secret keeps working; default 24 h"
    )


class ApiKeyRead(ReadSchema):
    id: str
    name: str
    description: str | None
    environment: ApiKeyEnvironment
    prefix: str
    scopes: list[str]
    allowed_ips: list[str]
    rate_limit_tier: str
    max_concurrent_calls: int
    status: ApiKeyStatus
    created_by: str
    issued_to: str | None = Field(
        description="Who received the current secret when it is not the creator "
        "(a rotation by someone else); the key then acts with the lower of their roles"
    )
    expires_at: datetime | None
    last_rotated_at: datetime | None
    previous_expires_at: datetime | None
    revoked_at: datetime | None
    first_used_at: datetime | None
    last_used_at: datetime | None
    total_requests: int
    created_at: datetime


class ApiKeyWithSecret(ApiKeyRead):
    key: str = Field(description="The secret. Shown only in this response; store it now.")
