"""Messaging's kinds and statuses: the closed sets of values its tables hold."""

from __future__ import annotations

from enum import StrEnum


class ChannelKind(StrEnum):
    """What a channel account talks over (a conversation's ``channel``)."""

    WHATSAPP = "whatsapp"
    WEB_CHAT = "web_chat"
    TELEGRAM = "telegram"
    INSTAGRAM = "instagram"
    EMAIL = "email"
    SMS = "sms"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class ProviderName(StrEnum):
    """Who carries an account's messages: the offline simulator or the WhatsApp Cloud API."""

    SIMULATOR = "simulator"
    WHATSAPP = "whatsapp"


class ConversationStatus(StrEnum):
    """Chatwoot's statuses; the seed's ``open`` is open, its ``closed`` is resolved."""

    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Priority(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class Outcome(StrEnum):
    """Seed 004's conversation outcomes."""

    BOOKING_MADE = "booking_made"
    INFO_PROVIDED = "info_provided"
    ESCALATED = "escalated"
    SALE = "sale"


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class AuthorRole(StrEnum):
    """Seed 004's message roles, plus ``agent`` for a human member or agent session."""

    USER = "user"
    ASSISTANT = "assistant"
    AGENT = "agent"
    SYSTEM = "system"


class ContentType(StrEnum):
    TEXT = "text"
    TEMPLATE = "template"
    MEDIA = "media"
    INTERACTIVE = "interactive"
    LOCATION = "location"


class MessageStatus(StrEnum):
    """Where a message is. Statuses only move forward (``moves_forward``): queued,
    sent, delivered, read; ``failed`` is final and only follows queued or sent."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}


def moves_forward(current: str, new: str) -> bool:
    """Whether a message in ``current`` may take ``new``: late, repeated and
    out-of-order reports (delivered after read, failed after delivered) are ignored."""
    if current == MessageStatus.FAILED or current == new:
        return False
    if new == MessageStatus.FAILED:
        return current in (MessageStatus.QUEUED, MessageStatus.SENT)
    return _RANK[MessageStatus(new)] > _RANK[MessageStatus(current)]


class OptOutSource(StrEnum):
    """Why a contact receives no more campaign messages."""

    STOP_REPLY = "stop_reply"
    MANUAL = "manual"
