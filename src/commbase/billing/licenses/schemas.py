"""License API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

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
