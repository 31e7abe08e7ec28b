"""Event types leads record in the outbox (ids, score and status: no personal data)."""

from __future__ import annotations

from datetime import datetime

from commbase.core.events import EventPayload, define


class LeadEvent(EventPayload):
    id: str
    score: int
    priority: str
    follow_up_status: str


class LeadUpdated(LeadEvent):
    fields: list[str]


class LeadConverted(LeadEvent):
    deal_value: int | None
    currency: str | None


class LeadFollowUpDue(LeadEvent):
    follow_up_at: datetime
    contact_id: str | None
    conversation_id: str | None


LEAD_CREATED = define("lead.created", LeadEvent, "A lead was recorded.")
LEAD_UPDATED = define("lead.updated", LeadUpdated, "A lead changed.")
LEAD_CONTACTED = define("lead.contacted", LeadEvent, "A lead was contacted.")
LEAD_CONVERTED = define("lead.converted", LeadConverted, "A lead became a customer.")
LEAD_LOST = define("lead.lost", LeadEvent, "A lead was lost.")
LEAD_FOLLOW_UP_DUE = define(
    "lead.follow_up_due", LeadFollowUpDue, "A lead's follow-up date has come (once per date)."
)
