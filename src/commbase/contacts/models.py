"""The contact book shared by calls and messaging (Ringez ``contacts``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # One phone, one contact in an organization (NULLs do not collide).
        UniqueConstraint("org_id", "phone"),
        Index("ix_contacts_org_owner", "org_id", "owner_user_id"),
        Index("ix_contacts_org_agent_session", "org_id", "owner_agent_session_id"),
        # Analytics' change time after the organization: the fold's and a read's rows
        # changed since the watermark, a range each (migration 0060).
        Index("ix_contacts_org_updated", "org_id", "updated_at"),
    )

    id: Mapped[str] = public_id("cnt")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # The owner: a user, or a guest agent session.
    owner_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    owner_agent_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("agent_sessions.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200), info=PERSONAL)
    # ``name`` folded for search (lower-cased, diacritics removed), kept by the service.
    search_name: Mapped[str] = mapped_column(Text, default="", info=PERSONAL)
    phone: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)  # E.164
    # ``phone`` as people write it internationally: +420 601 123 456.
    phone_formatted: Mapped[str | None] = mapped_column(String(40), info=PERSONAL)
    labels: Mapped[list[str]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, info=PERSONAL)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    blocked: Mapped[bool] = mapped_column(default=False)
    total_calls: Mapped[int] = mapped_column(default=0)
    total_duration: Mapped[int] = mapped_column(default=0)  # seconds
    first_called_at: Mapped[datetime | None]
    last_called_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
