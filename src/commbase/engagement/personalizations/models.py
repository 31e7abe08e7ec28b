"""A user's customisations of one AI agent (seed 002 ``agentpersonalizations``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class AgentPersonalization(Base):
    __tablename__ = "agent_personalizations"
    # One per user and agent; the constraint's index serves the user's list too.
    __table_args__ = (UniqueConstraint("org_id", "user_id", "agent_id"),)

    id: Mapped[str] = public_id("apz")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(100))
    # Display settings (name, avatar, theme, language...) and behaviour preferences
    # (tone, verbosity, formality...): free-form objects, as in the seed.
    display: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    behavior: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    custom_instructions: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    # [{"id": "spr_...", "title": ..., "prompt": ..., "created_at": ...}]
    saved_prompts: Mapped[list[dict[str, Any]]] = mapped_column(default=list, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
