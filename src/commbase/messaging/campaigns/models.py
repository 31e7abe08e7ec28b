"""Campaign tables: the campaign and one recipient row per contact.

A recipient row is the runner's unit of work: it is claimed with ``FOR UPDATE
SKIP LOCKED`` and a short lease (``claimed_by``, ``lease_until``), and the
message it sends has an id derived from the recipient's, so a recipient whose
worker died mid-batch is sent again under the same message id, never twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id, updated_at_column
from commbase.messaging.campaigns.enums import CampaignStatus, RecipientStatus


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_org_created", "org_id", "created_at"),
        Index("ix_campaigns_org_updated", "org_id", "updated_at"),
        Index("ix_campaigns_org_account", "org_id", "account_id", "created_at"),
        # The runner's look-up: campaigns due to start or running.
        Index("ix_campaigns_status_scheduled", "status", "scheduled_at"),
    )

    id: Mapped[str] = public_id("cmp")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    template_name: Mapped[str] = mapped_column(String(200))
    template_language: Mapped[str] = mapped_column(String(16), default="en")
    template_parameters: Mapped[list[str]] = mapped_column(default=list)
    # {"kind": "labels"|"contacts"|"filter", "labels": [...], "contact_ids": [...],
    #  "filter": {...}}: see schemas.Audience.
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    throttle_per_second: Mapped[int] = mapped_column(default=10)
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.DRAFT)
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    # The runner's pace: no batch of this campaign is claimed before this time.
    next_batch_at: Mapped[datetime | None]
    # Recipients who will get a message, and contacts of the audience skipped because
    # they opted out (or were blocked, or have no number) when the audience was built.
    recipients_total: Mapped[int] = mapped_column(default=0)
    skipped_opted_out: Mapped[int] = mapped_column(default=0)
    skipped_other: Mapped[int] = mapped_column(default=0)
    created_by_user_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CampaignRecipient(Base):
    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_recipients_org_campaign", "org_id", "campaign_id", "status"),
        # The runner's queue: queued recipients of a campaign by lease expiry.
        Index("ix_campaign_recipients_due", "campaign_id", "status", "lease_until"),
        Index("ix_campaign_recipients_org_contact", "org_id", "contact_id"),
    )

    id: Mapped[str] = public_id("crcp")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(String(40))
    # What the runner has done: queued, sent (a message exists), failed or skipped.
    # Delivered, read and replied are read live from the message.
    status: Mapped[str] = mapped_column(String(20), default=RecipientStatus.QUEUED)
    skip_reason: Mapped[str | None] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(40))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
