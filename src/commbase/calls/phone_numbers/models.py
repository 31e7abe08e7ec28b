"""An organization's phone numbers and what answers them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from commbase.calls.phone_numbers.enums import AfterHoursAction, AnswerMode
from commbase.core.db import Base, created_at_column, public_id, updated_at_column


class PhoneNumber(Base):
    """A number the organization owns at a carrier. One provider number belongs to
    one organization: ``(provider, number)`` is unique across the deployment."""

    __tablename__ = "phone_numbers"
    __table_args__ = (
        UniqueConstraint("provider", "number"),
        Index("ix_phone_numbers_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = public_id("pn")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))  # E.164
    provider: Mapped[str] = mapped_column(String(20))  # calls.enums.ProviderName
    friendly_name: Mapped[str | None] = mapped_column(String(100))
    capabilities: Mapped[list[str]] = mapped_column(default=list)  # Capability
    # What answers it during working hours.
    answer_mode: Mapped[str] = mapped_column(String(20), default=AnswerMode.AGENT)
    agent_id: Mapped[str | None] = mapped_column(String(100))
    connect_url: Mapped[str | None] = mapped_column(String(500))
    # The secret commbase signs its connect-out handshake with (``connect_secrets``).
    connect_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    member_user_id: Mapped[str | None] = mapped_column(String(40))
    forward_to: Mapped[str | None] = mapped_column(String(20))
    # Outside working hours.
    after_hours_action: Mapped[str] = mapped_column(String(20), default=AfterHoursAction.VOICEMAIL)
    after_hours_greeting: Mapped[str | None] = mapped_column(String(500))
    after_hours_forward_to: Mapped[str | None] = mapped_column(String(20))
    # Calls to it: never recorded when private; priced per minute (None: the default).
    privacy_mode: Mapped[bool] = mapped_column(default=False)
    inbound_rate_per_minute: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    voice: Mapped[str | None] = mapped_column(String(60))  # the carrier's TTS voice name
    # An agent answering it gets the call's audio (Twilio Media Streams), not text.
    live_audio: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The carrier's id for the number (Twilio's PN... SID) and what was configured there.
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    provider_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
