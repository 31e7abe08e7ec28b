"""Agent session shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema


class AgentContext(AppSchema):
    agent_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    agent_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    agent_version: Annotated[str, StringConstraints(max_length=40)] | None = None
    capabilities: list[Annotated[str, StringConstraints(max_length=60)]] = Field(
        default_factory=list, max_length=50
    )


class UserConsent(AppSchema):
    calling_authorized: bool = False
    privacy_mode: bool = False
    max_spend_limit: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Most this session may spend, in minor units"
    )
    data_retention: Literal["session_only", "30_days", "permanent"] = "30_days"


class AgentRateLimits(AppSchema):
    calls_per_hour: Annotated[int, Field(ge=1, le=10_000)] = 20
    max_call_duration: Annotated[int, Field(ge=1, le=86_400)] = 3600


class AgentSessionCreate(AppSchema):
    session_type: Literal["guest", "authenticated"] = "guest"
    user_id: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="For authenticated sessions; defaults to the caller's user"
    )
    agent_context: AgentContext
    user_consent: UserConsent = Field(default_factory=UserConsent)
    rate_limits: AgentRateLimits = Field(default_factory=AgentRateLimits)
    expires_in_s: Annotated[int, Field(ge=60, le=30 * 86_400)] | None = None


class AgentSessionRead(ReadSchema):
    id: str
    session_type: str
    user_id: str | None
    agent_context: dict[str, Any]
    user_consent: dict[str, Any]
    rate_limits: dict[str, Any]
    stats: dict[str, Any]
    scopes: list[str]
    status: str
    ip_address: str | None
    created_at: datetime
    expires_at: datetime
    last_activity_at: datetime | None
    terminated_at: datetime | None


class AgentSessionWithToken(AgentSessionRead):
    session_token: str = Field(description="Shown only in this response")
