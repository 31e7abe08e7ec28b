"""Event types campaigns record in the outbox (ids and counts: no personal data)."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class CampaignPayload(EventPayload):
    id: str
    account_id: str
    name: str
    status: str
    recipients_total: int
    skipped_opted_out: int
    skipped_other: int
    started_at: str | None = None
    completed_at: str | None = None


CAMPAIGN_STARTED = define(
    "campaign.started",
    CampaignPayload,
    "A campaign began sending: its recipients are chosen (opted-out contacts skipped).",
)
CAMPAIGN_COMPLETED = define(
    "campaign.completed",
    CampaignPayload,
    "Every recipient of a campaign has been sent its message (or skipped).",
)
