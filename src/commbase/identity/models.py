"""Identity tables. Users are global (one person, many organizations); everything
else belongs to an organization and carries ``org_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


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
    status: Mapped[str] = mapped_column(String(20), default="active")
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
    status: Mapped[str] = mapped_column(String(20), default="active")
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


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    id: Mapped[str] = public_id("mem")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class LoginSession(Base):
    """A signed-in device (Henvid's multi-device Session)."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_org_user", "org_id", "user_id"),)

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


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_org_status", "org_id", "status"),)

    id: Mapped[str] = public_id("key")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    environment: Mapped[str] = mapped_column(String(10))  # live | test
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    previous_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_expires_at: Mapped[datetime | None]
    scopes: Mapped[list[str]] = mapped_column(default=list)
    allowed_ips: Mapped[list[str]] = mapped_column(default=list)
    rate_limit_tier: Mapped[str] = mapped_column(String(20), default="standard")
    max_concurrent_calls: Mapped[int] = mapped_column(default=10)
    status: Mapped[str] = mapped_column(String(20), default="active")
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    last_rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    first_used_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    total_requests: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class AgentSession(Base):
    """An AI agent's calling session (Ringez ``sessions``), guest or on behalf of a user."""

    __tablename__ = "agent_sessions"
    __table_args__ = (
        Index("ix_agent_sessions_org_status", "org_id", "status"),
        Index("ix_agent_sessions_org_agent", "org_id", "agent_id"),
    )

    id: Mapped[str] = public_id("ags")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    session_type: Mapped[str] = mapped_column(String(20))  # guest | authenticated
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str] = mapped_column(String(100))
    agent_context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_consent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rate_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")
    ip_address: Mapped[str | None] = mapped_column(String(45), info=PERSONAL)
    user_agent: Mapped[str | None] = mapped_column(String(1024), info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_activity_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_created", "org_id", "created_at"),)

    id: Mapped[str] = public_id("aud")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(20))  # user | api_key | agent_session | system
    actor_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(40))
    # The actor's: blanked when the actor is erased; entries about someone else keep them.
    ip_address: Mapped[str | None] = mapped_column(String(45), info=PERSONAL)
    user_agent: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at_column()
