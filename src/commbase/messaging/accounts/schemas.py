"""API shapes for channel accounts. Secrets go in, and never come out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Name, not_null
from commbase.messaging.enums import AccountStatus, ChannelKind, ProviderName

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
Clock = Annotated[str, StringConstraints(pattern=_CLOCK.pattern)]


def _ordered(ranges: list[tuple[Clock, Clock]]) -> list[tuple[Clock, Clock]]:
    for start, end in ranges:
        if start >= end:
            raise ValueError(f"a range must end after it starts ({start}-{end})")
    return ranges


Ranges = Annotated[list[tuple[Clock, Clock]], Field(max_length=6)]
BusinessHours = dict[Weekday, Ranges]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9]+$")]
Secret = Annotated[str, StringConstraints(min_length=8, max_length=1000)]
VerifyToken = Annotated[str, StringConstraints(min_length=8, max_length=200)]
SendRate = Annotated[int, Field(ge=1, le=100_000)]


class _Hours(AppSchema):
    @field_validator("business_hours", check_fields=False)
    @classmethod
    def _ranges_in_order(cls, value: BusinessHours | None) -> BusinessHours | None:
        for ranges in (value or {}).values():
            _ordered(ranges)
        return value


class ChannelAccountCreate(_Hours):
    kind: ChannelKind
    name: Name
    provider: ProviderName = ProviderName.SIMULATOR
    business_hours: BusinessHours = Field(
        default_factory=dict,
        description='Per weekday, ranges in the organization\'s time zone: {"monday": '
        '[["09:00", "17:00"]]}. A weekday left out is closed; no hours at all: always open.',
    )
    phone_number_id: Identifier | None = None
    display_phone_number: Annotated[str, StringConstraints(max_length=32)] | None = None
    business_account_id: Identifier | None = None
    app_secret: Secret | None = Field(default=None, description="Meta app secret (write-only)")
    access_token: Secret | None = Field(default=None, description="Cloud API token (write-only)")
    verify_token: VerifyToken | None = None
    send_rate_per_minute: SendRate = 600

    @model_validator(mode="after")
    def _whatsapp_needs_its_ids(self) -> ChannelAccountCreate:
        if self.provider == ProviderName.WHATSAPP:
            if self.kind != ChannelKind.WHATSAPP:
                raise ValueError("the whatsapp provider carries only whatsapp accounts")
            missing = [
                name
                for name in ("phone_number_id", "app_secret", "access_token", "verify_token")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a whatsapp account needs {', '.join(missing)}")
        return self


class ChannelAccountUpdate(_Hours):
    name: Name | None = None
    status: AccountStatus | None = None
    business_hours: BusinessHours | None = None
    display_phone_number: Annotated[str, StringConstraints(max_length=32)] | None = None
    app_secret: Secret | None = None
    access_token: Secret | None = None
    verify_token: VerifyToken | None = None
    send_rate_per_minute: SendRate | None = None

    _required = field_validator("name", "status", "business_hours", "send_rate_per_minute")(
        not_null
    )


class ChannelAccountRead(ReadSchema):
    id: str
    kind: str
    name: str
    status: str
    provider: str
    business_hours: dict[str, list[list[str]]]
    phone_number_id: str | None
    display_phone_number: str | None
    business_account_id: str | None
    has_app_secret: bool
    has_access_token: bool
    verify_token: str | None
    send_rate_per_minute: int
    created_at: datetime
    updated_at: datetime
