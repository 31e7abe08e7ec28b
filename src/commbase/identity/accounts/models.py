"""Emailed account tokens and the record of self-service sign-ups."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id


class AccountToken(Base):
    """A single-use, expiring link token sent by email (verification, password reset,
    invitation). Stored as HMAC-SHA256 (``token_hash``); ``sealed`` holds the token
    encrypted only until the email carrying it is sent, then it is wiped."""

    __tablename__ = "account_tokens"
    __table_args__ = (Index("ix_account_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[str] = public_id("atk")
    purpose: Mapped[str] = mapped_column(String(20))  # TokenPurpose
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The organization the token acts in: the signed-up or inviting one (None: reset).
    org_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    membership_id: Mapped[str | None] = mapped_column(String(40))  # invitations
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sealed: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class Signup(Base):
    """An organization a person opened themselves. Until its owner verifies their
    email, it may not spend money or send messages (``verified_at`` is None)."""

    __tablename__ = "signups"

    id: Mapped[str] = public_id("sgn")
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str | None] = mapped_column(String(40))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
