"""Publishable keys: embedded in a website's pages to post intake forms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id, updated_at_column
from commbase.identity.publishable_keys.enums import PublishableKeyStatus


class PublishableKey(Base):
    """A ``cb_pub_`` key: intake scopes only, from its allowed origins only, limited per
    visitor IP. Stored as the HMAC of the key, like API keys."""

    __tablename__ = "publishable_keys"
    __table_args__ = (Index("ix_publishable_keys_org_status", "org_id", "status"),)

    id: Mapped[str] = public_id("pk")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    allowed_origins: Mapped[list[str]] = mapped_column(default=list)
    rate_limit_per_minute: Mapped[int] = mapped_column(default=20)
    status: Mapped[str] = mapped_column(String(20), default=PublishableKeyStatus.ACTIVE)
    revoked_at: Mapped[datetime | None]
    # Usage, counted in memory and written every few seconds (identity.usage).
    total_requests: Mapped[int] = mapped_column(default=0)
    first_used_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
