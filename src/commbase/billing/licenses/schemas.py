"""License API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema


class LicenseAssign(AppSchema):
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class LicenseRead(ReadSchema):
    id: str
    subscription_id: str
    customer_id: str
    holder_org_id: str
    user_id: str
    assigned_by: str | None
    assigned_at: datetime
    unassigned_at: datetime | None


class EntitlementRead(ReadSchema):
    feature: str
    user_id: str
    license_id: str
    subscription_id: str
    plan_id: str


class LicenseUsage(ReadSchema):
    """What the seat's user did with it, from the metric registry (see ``usage.py``)."""

    license_id: str
    user_id: str
    since: datetime = Field(description="Assigned at")
    until: datetime | None = Field(description="Unassigned at (null: held now)")
    period_start: datetime = Field(description="The subscription's current period's start")
    total_calls: int
    total_duration: int = Field(description="Talk time in seconds")
    calls_this_period: int
    average_duration: float = Field(description="Seconds per call with a duration")
    success_rate: float = Field(description="Completed / placed x 100")
