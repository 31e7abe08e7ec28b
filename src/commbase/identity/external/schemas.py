"""External sign-in shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema

IdToken = Annotated[str, StringConstraints(min_length=1, max_length=8192)]
ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ExternalLogin(AppSchema):
    provider: ProviderName = Field(description="firebase, or a configured OIDC provider's name")
    id_token: IdToken
    organization: Annotated[str, StringConstraints(max_length=80)] | None = None
    two_factor_code: Annotated[str, StringConstraints(max_length=32)] | None = None


class ExternalLink(AppSchema):
    provider: ProviderName
    id_token: IdToken


class ExternalIdentityRead(ReadSchema):
    id: str
    provider: str
    created_at: datetime
    last_used_at: datetime | None
