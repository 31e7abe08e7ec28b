"""Statuses and kinds of campaigns and their recipients."""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A campaign in one of these never changes again.
FINISHED_CAMPAIGN = frozenset(
    {CampaignStatus.COMPLETED, CampaignStatus.FAILED, CampaignStatus.CANCELLED}
)
# "Active" in seed 001's ``campaigns.active``: sending or about to.
ACTIVE_CAMPAIGN = frozenset(
    {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED}
)


class RecipientStatus(StrEnum):
    """A recipient moves forward only: queued -> sent -> delivered -> read -> replied,
    or to failed; ``skipped`` (opted out or blocked when its turn came) is final, and
    so is ``cancelled`` (still queued, no message yet, when the campaign was cancelled)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    REPLIED = "replied"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


# How far along each status is: a report may only raise it.
RECIPIENT_RANK: dict[RecipientStatus, int] = {
    RecipientStatus.QUEUED: 0,
    RecipientStatus.SENT: 1,
    RecipientStatus.DELIVERED: 2,
    RecipientStatus.READ: 3,
    RecipientStatus.REPLIED: 4,
    RecipientStatus.FAILED: 5,
    RecipientStatus.SKIPPED: 5,
    RecipientStatus.CANCELLED: 5,
}


class AudienceKind(StrEnum):
    LABELS = "labels"  # contacts holding any of the labels
    CONTACTS = "contacts"  # an explicit list of contact ids
    FILTER = "filter"  # a contact filter (label, search text, created range)


class SkipReason(StrEnum):
    OPTED_OUT = "opted_out"
    BLOCKED = "blocked"
    NO_ADDRESS = "no_address"
