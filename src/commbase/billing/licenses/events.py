"""License events."""

from __future__ import annotations

from datetime import datetime

from commbase.core.events import EventPayload, define


class LicensePayload(EventPayload):
    id: str
    subscription_id: str
    customer_id: str
    holder_org_id: str
    user_id: str
    assigned_at: datetime
    unassigned_at: datetime | None


LICENSE_ASSIGNED = define("license.assigned", LicensePayload, "A seat was assigned to a user.")
LICENSE_UNASSIGNED = define("license.unassigned", LicensePayload, "A user's seat was taken back.")


def payload(license_: object) -> dict[str, object]:
    return LicensePayload.model_validate(license_, from_attributes=True).model_dump(mode="json")
