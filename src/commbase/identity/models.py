"""Identity tables. Users are global (one person, many organizations); everything
else belongs to an organization and carries ``org_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.identity.enums import AccountType, OrganizationStatus, UserStatus


class Organization(Base):
    """A tenant: the seeds' company (Henvid), team (WhatsApp CRM) or client account."""

    __tablename__ = "organizations"

    id: Mapped[str] = public_id("org")
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    industry: Mapped[str | None] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(16), default="en")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    website: Mapped[str | None] = mapped_column(String(500))
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    branding: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    onboarding: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=OrganizationStatus.ACTIVE)
    # The account type when no live subscription names one (identity.account_types):
    # free for sign-ups, the operator's choice for organizations they create.
    account_type: Mapped[str] = mapped_column(
        String(20), default=AccountType.STANDARD, server_default=AccountType.STANDARD.value
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_status_created", "status", "created_at"),)

    id: Mapped[str] = public_id("usr")
    email: Mapped[str] = mapped_column(
        String(320), unique=True, info=PERSONAL
    )  # stored lower-cased
    phone: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)  # E.164
    first_name: Mapped[str] = mapped_column(String(100), default="", info=PERSONAL)
    last_name: Mapped[str] = mapped_column(String(100), default="", info=PERSONAL)
    name: Mapped[str] = mapped_column(String(200), default="", info=PERSONAL)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Holds default_caller_id, a phone number.
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    ai_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The seed's registration_ip, user_agent, country.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, info=PERSONAL)
    source: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=UserStatus.ACTIVE)
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone_verified: Mapped[bool] = mapped_column(default=False)
    login_count: Mapped[int] = mapped_column(default=0)
    # Henvid's user counters, kept current by calls.
    total_calls: Mapped[int] = mapped_column(default=0)
    total_video_calls: Mapped[int] = mapped_column(default=0)
    total_call_duration: Mapped[int] = mapped_column(default=0)  # seconds
    review_count: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_created", "org_id", "created_at"),)

    id: Mapped[str] = public_id("aud")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(20))  # ActorType
    actor_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(40))
    # The actor's: blanked when the actor is erased; entries about someone else keep them.
    ip_address: Mapped[str | None] = mapped_column(String(45), info=PERSONAL)
    user_agent: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at_column()
