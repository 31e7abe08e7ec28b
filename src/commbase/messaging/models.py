"""Messaging tables: channel accounts, conversations, their messages and notes, opt-outs.

Every table is tenant-owned (``org_id`` first in its indexes). Analytics reads
messages and conversations through the metric registry, by organization and
creation time (indexed, with channel account, and for messages change time,
direction and author role); other dimensions are filtered within that range.
Filing an inbound message is the busiest write: migration 0047 keeps its index
entries few (see ``Conversation`` and ``Message``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.core.indexes import where_set
from commbase.core.time import utcnow
from commbase.messaging.enums import (
    AccountStatus,
    AuthorRole,
    ContentType,
    ConversationStatus,
    Direction,
    MessageStatus,
    Priority,
    ProviderName,
)


class ChannelAccount(Base):
    """A number or inbox messages come in and go out through (seed 001's WhatsApp account)."""

    __tablename__ = "channel_accounts"
    __table_args__ = (
        Index("ix_channel_accounts_org_created", "org_id", "created_at"),
        Index("ix_channel_accounts_org_kind", "org_id", "kind"),
        # Meta's webhooks name the phone number id; the handshake names the verify token.
        UniqueConstraint("kind", "phone_number_id"),
        UniqueConstraint("verify_token"),
    )

    id: Mapped[str] = public_id("chan")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # ChannelKind
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=AccountStatus.ACTIVE)
    provider: Mapped[str] = mapped_column(String(20), default=ProviderName.SIMULATOR)
    # {"monday": [["09:00", "17:00"]], ...} in the organization's time zone; {} = always.
    business_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # WhatsApp Cloud API.
    phone_number_id: Mapped[str | None] = mapped_column(String(64))
    display_phone_number: Mapped[str | None] = mapped_column(String(32))
    business_account_id: Mapped[str | None] = mapped_column(String(64))
    # Encrypted at rest with a key derived from the server secret, as webhook secrets are.
    app_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    verify_token: Mapped[str | None] = mapped_column(String(200))
    # Outbound messages per minute this account may send (the provider's tier).
    send_rate_per_minute: Mapped[int] = mapped_column(default=600)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Conversation(Base):
    """A thread with one contact on one channel account (seed 004's ``conversations``)."""

    __tablename__ = "conversations"
    __table_args__ = (
        # No index holds a column filing an inbound message changes (its times,
        # counts and updated_at), so that UPDATE stays on its page (HOT; fillfactor 70
        # on PostgreSQL, migration 0047). Analytics' change time is
        # ``facts_changed_at``, which moves only with a column metrics read
        # (``FACT_COLUMNS``, migration 0057), read with the organization (a read's data
        # version; the fold's rows changed since its watermark, organization by organization).
        Index("ix_conversations_org_created", "org_id", "created_at"),
        Index("ix_conversations_org_facts_changed", "org_id", "facts_changed_at"),
        Index("ix_conversations_org_account", "org_id", "account_id", "created_at"),
        Index("ix_conversations_org_status", "org_id", "status"),
        Index("ix_conversations_org_assignee", "org_id", "assignee_user_id"),
        Index("ix_conversations_org_contact", "org_id", "contact_id"),
        Index("ix_conversations_org_resolved", "org_id", "resolved_at"),
        # At most one unresolved conversation per contact and account: the contact's
        # id while unresolved, NULL (which never collides) once resolved.
        UniqueConstraint("account_id", "active_contact_key"),
    )

    id: Mapped[str] = public_id("conv")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(String(40))
    active_contact_key: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))  # ChannelKind of the account
    session_id: Mapped[str | None] = mapped_column(String(200))
    # The other party as the channel names them (seed 004's clientPhone/Email/Name).
    client_phone: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)
    client_email: Mapped[str | None] = mapped_column(String(320), info=PERSONAL)
    client_name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    status: Mapped[str] = mapped_column(String(20), default=ConversationStatus.OPEN)
    snoozed_until: Mapped[datetime | None]
    # Assignee: a member (user) or an agent session.
    assignee_user_id: Mapped[str | None] = mapped_column(String(40))
    assignee_agent_session_id: Mapped[str | None] = mapped_column(String(40))
    labels: Mapped[list[str]] = mapped_column(default=list)
    priority: Mapped[str] = mapped_column(String(10), default=Priority.NONE)
    # Timeline.
    first_inbound_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    # Seconds from the first inbound message to the first human or assistant reply.
    first_response_seconds: Mapped[int | None]
    resolved_at: Mapped[datetime | None]
    # Seconds from creation to the latest resolution.
    resolution_seconds: Mapped[int | None]
    last_activity_at: Mapped[datetime | None]
    message_count: Mapped[int] = mapped_column(default=0)
    inbound_count: Mapped[int] = mapped_column(default=0)
    outbound_count: Mapped[int] = mapped_column(default=0)
    # Seed 004's AI analysis and outcome.
    intent: Mapped[str | None] = mapped_column(String(40))
    sentiment: Mapped[str | None] = mapped_column(String(10))  # Sentiment
    sentiment_score: Mapped[float | None]  # -1..1
    lead_score: Mapped[int | None]  # 0..100
    conversion_probability: Mapped[float | None]  # 0..1
    tags: Mapped[list[str]] = mapped_column(default=list)
    outcome: Mapped[str | None] = mapped_column(String(20))  # Outcome
    sale_amount: Mapped[int | None] = mapped_column(BigInteger)  # minor units
    sale_currency: Mapped[str | None] = mapped_column(String(3))
    booking_details: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    escalated_to_human: Mapped[bool] = mapped_column(default=False)
    # Satisfaction after resolution (1..5).
    satisfaction_rating: Mapped[int | None]
    satisfaction_comment: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    rated_at: Mapped[datetime | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    # When a column of ``FACT_COLUMNS`` last changed (analytics' change time).
    facts_changed_at: Mapped[datetime] = mapped_column(default=utcnow)


# The columns conversation metrics read (``messaging.metrics``: time, organization,
# account, filters, values, dimensions; a test checks the registry against it). An
# UPDATE that changes one must set ``facts_changed_at`` (ORM flushes do it here); one
# that changes none (filing's times and counts) leaves it, and stays HOT.
FACT_COLUMNS = frozenset(
    {
        "org_id",
        "account_id",
        "contact_id",
        "channel",
        "status",
        "assignee_user_id",
        "assignee_agent_session_id",
        "priority",
        "first_response_seconds",
        "resolution_seconds",
        "sentiment",
        "sentiment_score",
        "outcome",
        "escalated_to_human",
        "created_at",
    }
)


@event.listens_for(Conversation, "before_update")
def _facts_changed(_mapper: Any, _connection: Any, conversation: Conversation) -> None:
    """Move ``facts_changed_at`` when a flush changes a column metrics read."""
    attributes = inspect(conversation).attrs
    if any(attributes[name].history.has_changes() for name in FACT_COLUMNS):
        conversation.facts_changed_at = utcnow()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_org_created", "org_id", "created_at"),
        Index("ix_messages_org_updated", "org_id", "updated_at"),
        Index("ix_messages_org_account_created", "org_id", "account_id", "created_at"),
        Index("ix_messages_org_conversation", "org_id", "conversation_id", "created_at"),
        Index("ix_messages_org_direction", "org_id", "direction", "created_at"),
        Index("ix_messages_org_author_role", "org_id", "author_role", "created_at"),
        # Campaign messages only: an inbound message writes no entry (migration 0047).
        Index("ix_messages_org_campaign", "org_id", "campaign_id", **where_set("campaign_id")),
        # The send worker's queue: queued messages by when they are due (and messages
        # by status alone).
        Index("ix_messages_due", "status", "next_attempt_at"),
        # A provider's id names one message per account: a repeated webhook is dropped.
        UniqueConstraint("account_id", "provider_message_id"),
        # A retried send finds its message by the request's Idempotency-Key (rule 12);
        # messages without one write no entry.
        Index(
            "uq_messages_org_idempotency_key",
            "org_id",
            "idempotency_key",
            unique=True,
            **where_set("idempotency_key"),
        ),
    )

    id: Mapped[str] = public_id("msg")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10), default=Direction.OUTBOUND)
    author_role: Mapped[str] = mapped_column(String(10), default=AuthorRole.AGENT)
    # Who wrote an outbound message: a member or an agent session.
    sender_user_id: Mapped[str | None] = mapped_column(String(40))
    sender_agent_session_id: Mapped[str | None] = mapped_column(String(40))
    content_type: Mapped[str] = mapped_column(String(20), default=ContentType.TEXT)
    body: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    media_url: Mapped[str | None] = mapped_column(String(2048), info=PERSONAL)
    media_type: Mapped[str | None] = mapped_column(String(100))
    media_size: Mapped[int | None] = mapped_column(BigInteger)  # bytes
    template_name: Mapped[str | None] = mapped_column(String(200))
    template_language: Mapped[str | None] = mapped_column(String(16))
    template_parameters: Mapped[list[str]] = mapped_column(default=list, info=PERSONAL)
    # Voice transcription, sentiment, location, interactive payloads.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, info=PERSONAL)
    reply_to_message_id: Mapped[str | None] = mapped_column(String(40))
    # The campaign that sent it (messaging.campaigns; no foreign key: a later table).
    campaign_id: Mapped[str | None] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(20), default=ProviderName.SIMULATOR)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.QUEUED)
    queued_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    # When the contact first wrote back after this outbound message.
    replied_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(String(500))
    # The credential-scoped Idempotency-Key of the request that queued it.
    idempotency_key: Mapped[str | None] = mapped_column(String(300))
    # The send worker's bookkeeping.
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_expires_at: Mapped[datetime | None]
    # When its body was erased (GDPR) or purged by retention.
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ConversationNote(Base):
    """A private note on a conversation: seen by the team, never sent."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_org_conversation", "org_id", "conversation_id"),)

    id: Mapped[str] = public_id("note")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author_user_id: Mapped[str | None] = mapped_column(String(40))
    author_agent_session_id: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()


class OptOut(Base):
    """A contact who receives no campaign messages: they replied STOP or were marked.

    Campaigns skip (and count) every contact with a row here.
    """

    __tablename__ = "messaging_opt_outs"
    __table_args__ = (UniqueConstraint("org_id", "contact_id"),)

    id: Mapped[str] = public_id("opt")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))  # OptOutSource
    account_id: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()


class WhatsAppNotification(Base):
    """A signed Cloud API notification as it arrived, waiting to be filed.

    The webhook stores the raw body (one row per channel account it names) and
    answers at once; the intake consumer files its messages and statuses in
    batches and deletes the row in the same transaction. A retry of the same
    notification while it waits is dropped by (account, body digest).
    """

    __tablename__ = "whatsapp_notifications"
    __table_args__ = (
        UniqueConstraint("account_id", "body_sha256"),
        # The consumer's queue: due rows by arrival.
        Index("ix_whatsapp_notifications_due", "available_at", "id"),
    )

    id: Mapped[str] = public_id("wan")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # No foreign key: a notification for an account removed meanwhile is dropped when filed.
    account_id: Mapped[str] = mapped_column(String(40))
    # The account's number the notification was verified for (its changes for it are filed).
    phone_number_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, info=PERSONAL)
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    available_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    # Set when filing kept failing and the consumer gave up (kept for an operator).
    failed_at: Mapped[datetime | None]
