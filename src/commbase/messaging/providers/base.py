"""What every messaging provider offers (sending) and reports (statuses, inbound)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from commbase.messaging.enums import ContentType, MessageStatus


@dataclass(frozen=True)
class Outbound:
    """One message to send, as the provider needs it."""

    message_id: str
    to: str  # E.164 phone, email address or chat session
    content_type: ContentType
    body: str | None = None
    media_url: str | None = None
    media_type: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    template_parameters: list[str] = field(default_factory=list)
    reply_to_provider_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    provider_message_id: str


@dataclass(frozen=True)
class StatusReport:
    """A provider's report that one of our messages moved."""

    provider_message_id: str
    status: MessageStatus
    at: datetime
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A contact's message as a provider delivered it, already verified."""

    provider_message_id: str
    from_phone: str | None
    at: datetime
    content_type: ContentType
    body: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    session_id: str | None = None
    media_type: str | None = None
    media_url: str | None = None
    reply_to_provider_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class SendRefused(Exception):
    """The provider answered and refused the message: sending it again fails again."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SendFailed(Exception):
    """The provider could not take the message now (network, 429, 5xx): retry later."""


class MessagingProvider(Protocol):
    name: str

    async def send(self, *, outbound: Outbound, attempt: int = 1) -> Sent:
        """Hand one message to the provider (``attempt`` counts from 1). Raises
        ``SendRefused`` (final) or ``SendFailed`` (try again)."""
        ...
