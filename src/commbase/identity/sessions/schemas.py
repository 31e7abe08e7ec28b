"""Login session shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.identity.schemas import OrganizationRead, UserRead


class LoginRequest(AppSchema):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    organization: Annotated[str, StringConstraints(max_length=80)] | None = Field(
        default=None, description="Slug or id of the organization to sign in to"
    )
    two_factor_code: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="A TOTP or recovery code, for accounts with two-factor sign-in"
    )


class SessionRead(ReadSchema):
    id: str
    device_type: str
    browser: str | None
    os: str | None
    ip_address: str | None
    country: str | None
    city: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    current: bool = False


class SessionsRevoked(ReadSchema):
    revoked: int = Field(description="How many other sessions were signed out")


class LoginResponse(AppSchema):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_at: datetime
    session: SessionRead
    user: UserRead
    organization: OrganizationRead
