"""A person's second factor, and an organization's requirement of one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, updated_at_column


class TwoFactor(Base):
    """The user's TOTP secret (Fernet-encrypted: it must be read back to check codes)
    and their recovery codes (HMAC-SHA256 each; a used one is removed)."""

    __tablename__ = "two_factor"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[str] = mapped_column(Text)
    enabled_at: Mapped[datetime | None]
    # The last accepted code's time step: a code is accepted once.
    last_step: Mapped[int] = mapped_column(default=0)
    recovery_code_hashes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TwoFactorPolicy(Base):
    """An owner's rule: every member signs in to the organization with a second factor."""

    __tablename__ = "two_factor_policies"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    required: Mapped[bool] = mapped_column(default=False)
    updated_by: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = updated_at_column()
