"""Agent sessions: an AI agent's own short-lived credential."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id
from commbase.identity.enums import AgentSessionStatus


class AgentSession(Base):
    """An AI agent's calling session (Ringez ``sessions``), guest or on behalf of a user."""

    __tablename__ = "agent_sessions"
    __table_args__ = (
        Index("ix_agent_sessions_org_status", "org_id", "status"),
        Index("ix_agent_sessions_org_agent", "org_id", "agent_id"),
    )

    id: Mapped[str] = public_id("ags")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    session_type: Mapped[str] = mapped_column(String(20))  # AgentSessionType
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[str] = mapped_column(String(100))
    agent_context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_consent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rate_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default=AgentSessionStatus.ACTIVE)
    # False when opened with a test key: its calls and payments never reach real providers.
    livemode: Mapped[bool] = mapped_column(default=True, server_default=true())
    ip_address: Mapped[str | None] = mapped_column(String(45), info=PERSONAL)
    user_agent: Mapped[str | None] = mapped_column(String(1024), info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_activity_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
