"""Agent session shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.identity.enums import AgentSessionStatus, AgentSessionType, DataRetention


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
    data_retention: DataRetention = DataRetention.THIRTY_DAYS


class AgentRateLimits(AppSchema):
    calls_per_hour: Annotated[int, Field(ge=1, le=10_000)] = 20
    max_call_duration: Annotated[int, Field(ge=1, le=86_400)] = 3600


class AgentSessionCreate(AppSchema):
    session_type: AgentSessionType = AgentSessionType.GUEST
    user_id: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None,
        description="For authenticated sessions: who the agent acts for (their wallet, "
        "caller ID and limits). Defaults to the caller's user; another member needs "
        "the caller to be an owner, or an admin acting for a non-owner",
    )
    agent_context: AgentContext
    user_consent: UserConsent = Field(default_factory=UserConsent)
    rate_limits: AgentRateLimits = Field(default_factory=AgentRateLimits)
    expires_in_s: Annotated[int, Field(ge=60, le=30 * 86_400)] | None = None


class AgentSessionRead(ReadSchema):
    id: str
    session_type: AgentSessionType
    user_id: str | None
    agent_context: dict[str, Any]
    user_consent: dict[str, Any]
    rate_limits: dict[str, Any]
    stats: dict[str, Any]
    scopes: list[str]
    status: AgentSessionStatus
    livemode: bool = Field(
        description="False when opened with a test-mode credential: its calls never reach "
        "real carriers"
    )
    ip_address: str | None
    created_at: datetime
    expires_at: datetime
    last_activity_at: datetime | None
    terminated_at: datetime | None


class AgentSessionWithToken(AgentSessionRead):
    session_token: str = Field(description="Shown only in this response")
