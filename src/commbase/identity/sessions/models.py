"""Login sessions: one per signed-in device."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id


class LoginSession(Base):
    """A signed-in device (Henvid's multi-device Session)."""

    __tablename__ = "login_sessions"
    __table_args__ = (
        Index("ix_login_sessions_org_user", "org_id", "user_id"),
        # Sign-ins by time, and analytics' change time (the same column): migration 0060.
        Index("ix_login_sessions_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = public_id("sess")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_type: Mapped[str] = mapped_column(String(20), default="other")
    browser: Mapped[str | None] = mapped_column(String(100))
    os: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(1024), info=PERSONAL)
    ip_address: Mapped[str | None] = mapped_column(String(45), info=PERSONAL)
    country: Mapped[str | None] = mapped_column(String(2), info=PERSONAL)
    city: Mapped[str | None] = mapped_column(String(100), info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    last_seen_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
