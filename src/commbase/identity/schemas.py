"""API shapes for identity: ``XCreate`` / ``XUpdate`` in, ``XRead`` out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    computed_field,
    field_validator,
)

from commbase.core.auth import AgentGrant, KeyGrant, Principal, PrincipalKind
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.scopes import Scope
from commbase.core.types import (
    Currency,
    JsonObject,
    Name,
    Phone,
    ShortText,
    TimeZone,
    not_null,
)
from commbase.identity.enums import (
    AccountType,
    ActorType,
    AgentSessionType,
    ApiKeyEnvironment,
    DataRetention,
    OrganizationStatus,
    UserStatus,
)
from commbase.identity.roles import Role

Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
_WORKING_HOURS = re.compile(r"^(closed|([01]?\d|2[0-4])(:[0-5]\d)?-([01]?\d|2[0-4])(:[0-5]\d)?)$")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WorkingHours = Annotated[str, StringConstraints(pattern=_WORKING_HOURS.pattern)]
_not_null = not_null


# ---------------------------------------------------------------- organizations


class Address(AppSchema):
    line1: ShortText | None = None
    line2: ShortText | None = None
    city: ShortText | None = None
    region: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class Branding(AppSchema):
    logo_url: HttpUrl | None = None
    primary_color: Color | None = None
    secondary_color: Color | None = None


class Onboarding(AppSchema):
    steps: dict[Annotated[str, StringConstraints(max_length=60)], bool] = Field(
        default_factory=dict, max_length=50
    )

    @property
    def progress(self) -> int:
        return round(100 * sum(self.steps.values()) / len(self.steps)) if self.steps else 0


class OrganizationUpdate(AppSchema):
    name: Name | None = None
    timezone: TimeZone | None = None
    currency: Currency | None = None
    industry: Annotated[str, StringConstraints(max_length=80)] | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    website: HttpUrl | None = None
    address: Address | None = None
    branding: Branding | None = None
    settings: JsonObject | None = None
    onboarding: Onboarding | None = None

    _required = field_validator(
        "name",
        "timezone",
        "currency",
        "language",
        "address",
        "branding",
        "settings",
        "onboarding",
    )(_not_null)


class OrganizationRead(ReadSchema):
    id: str
    name: str
    slug: str
    timezone: str
    currency: str
    industry: str | None
    language: str
    email: str | None
    phone: str | None
    website: str | None
    address: dict[str, Any]
    branding: dict[str, Any]
    settings: dict[str, Any]
    onboarding: dict[str, Any]
    status: OrganizationStatus
    # As it applies now: from a live subscription's plan, else the stored default.
    account_type: AccountType
    account_type_source: Literal["subscription", "default"] = "default"
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------------ users


class Notifications(AppSchema):
    email: bool = True
    sms: bool = False
    push: bool = True
    weekly_report: bool = True


class Preferences(AppSchema):
    timezone: TimeZone | None = None
    currency: Currency | None = None
    notifications: Notifications = Field(default_factory=Notifications)
    default_caller_id: Phone | None = None
    privacy_mode: bool = False
    auto_recharge: bool = False
    auto_recharge_threshold: Annotated[int, Field(ge=0)] | None = None
    auto_recharge_amount: Annotated[int, Field(ge=0)] | None = None  # minor units


class AISettings(AppSchema):
    tone: Literal["friendly", "professional", "casual"] = "professional"
    auto_reply: bool = False
    working_hours: dict[Weekday, WorkingHours] = Field(default_factory=dict)
    max_call_duration: Annotated[int, Field(ge=1, le=86_400)] = 3600  # seconds
    daily_message_limit: Annotated[int, Field(ge=0, le=1_000_000)] = 1000
    voice_preference: Literal["female", "male", "neutral"] = "female"
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"


class UserCreate(AppSchema):
    email: EmailStr
    password: Password | None = None
    first_name: Annotated[str, StringConstraints(max_length=100)] = ""
    last_name: Annotated[str, StringConstraints(max_length=100)] = ""
    phone: Phone | None = None
    role: Role = Role.AGENT
    preferences: Preferences | None = None
    ai_settings: AISettings | None = None
    source: Annotated[str, StringConstraints(max_length=40)] | None = None


class UserUpdate(AppSchema):
    first_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    last_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    phone: Phone | None = None
    preferences: Preferences | None = None
    ai_settings: AISettings | None = None

    _required = field_validator("first_name", "last_name")(_not_null)


class UserLimits(AppSchema):
    """Ringez's per-user limits; calls enforce them."""

    max_concurrent_calls: Annotated[int, Field(ge=1, le=10_000)] | None = None
    max_call_duration: Annotated[int, Field(ge=60, le=86_400)] | None = None  # seconds
    daily_spend_limit: Annotated[int, Field(ge=0)] | None = None  # minor units


class UserAdminUpdate(UserUpdate):
    status: Literal[UserStatus.ACTIVE, UserStatus.SUSPENDED] | None = None
    limits: UserLimits | None = None

    _status_required = field_validator("status")(_not_null)


class PasswordChange(AppSchema):
    current_password: Annotated[str, StringConstraints(max_length=256)]
    new_password: Password


class UserRead(ReadSchema):
    id: str
    email: str
    phone: str | None
    first_name: str
    last_name: str
    name: str
    preferences: dict[str, Any]
    ai_settings: dict[str, Any]
    limits: dict[str, Any] = Field(default_factory=dict)
    status: UserStatus
    email_verified: bool
    phone_verified: bool
    login_count: int
    total_calls: int = 0
    total_video_calls: int = 0
    total_call_duration: int = 0
    review_count: int = 0
    rating_sum: int = Field(default=0, exclude=True)
    last_login_at: datetime | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def average_rating(self) -> float | None:
        return round(self.rating_sum / self.review_count, 2) if self.review_count else None


# ------------------------------------------------------------------------ audit


class AuditEntryRead(ReadSchema):
    id: str
    actor_type: ActorType
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip_address: str | None
    user_agent: str | None
    details: dict[str, Any]
    created_at: datetime


class KeyGrantRead(ReadSchema):
    """What an API key carries besides its scopes."""

    environment: ApiKeyEnvironment
    max_concurrent_calls: int


class AgentGrantRead(ReadSchema):
    """What an agent session was allowed when it was opened."""

    agent_id: str
    session_type: AgentSessionType
    calling_authorized: bool
    privacy_mode: bool
    max_spend_limit: int | None = Field(description="Minor units over the session's life")
    data_retention: DataRetention
    calls_per_hour: int
    max_call_duration: int = Field(description="Seconds")


class PrincipalRead(ReadSchema):
    """The credential the request was made with."""

    kind: PrincipalKind
    id: str = Field(description="The credential's id: key_..., sess_... or ags_...")
    scopes: list[Scope]
    livemode: bool = Field(
        description="False for test-mode credentials (cb_test_ keys and the agent sessions "
        "they open): their calls and payments never reach real providers"
    )
    key: KeyGrantRead | None = Field(description="API keys only")
    agent: AgentGrantRead | None = Field(description="Agent sessions only")

    @classmethod
    def of(cls, principal: Principal) -> PrincipalRead:
        key: KeyGrant | None = principal.key
        agent: AgentGrant | None = principal.agent
        return cls(
            kind=principal.kind,
            id=principal.credential_id,
            scopes=sorted(principal.scopes),
            livemode=principal.livemode,
            key=KeyGrantRead.model_validate(key) if key is not None else None,
            agent=AgentGrantRead.model_validate(agent) if agent is not None else None,
        )


class MeRead(AppSchema):
    principal: PrincipalRead
    user: UserRead | None
    role: Role | None
    organization: OrganizationRead
