"""API keys of an organization."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id, updated_at_column
from commbase.identity.enums import ApiKeyStatus


class ApiKey(Base):
    """A key acts as its creator (``created_by``: wallet, caller ID, role). When someone
    else received its current secret (``issued_to``: an admin rotated it, or a key held
    by someone else created it), it acts with the lower of the two members' roles and
    stops working when either leaves."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_org_status", "org_id", "status"),)

    id: Mapped[str] = public_id("key")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    issued_to: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    environment: Mapped[str] = mapped_column(String(10))  # ApiKeyEnvironment
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    previous_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_expires_at: Mapped[datetime | None]
    scopes: Mapped[list[str]] = mapped_column(default=list)
    allowed_ips: Mapped[list[str]] = mapped_column(default=list)
    rate_limit_tier: Mapped[str] = mapped_column(String(20), default="standard")
    max_concurrent_calls: Mapped[int] = mapped_column(default=10)
    status: Mapped[str] = mapped_column(String(20), default=ApiKeyStatus.ACTIVE)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    last_rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    first_used_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    total_requests: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
