"""Memberships: a user's role in an organization."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.identity.enums import MembershipStatus


class Membership(Base):
    """A user's role in an organization. One an admin added starts ``invited``: it grants
    nothing, and the organization sees only ``invitation`` (what the admin submitted),
    not the account, until the person accepts by signing in to the organization."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    id: Mapped[str] = public_id("mem")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(
        String(20), default=MembershipStatus.ACTIVE, server_default=MembershipStatus.ACTIVE.value
    )
    # The invited person as the admin described them: email, first_name, last_name, phone.
    invitation: Mapped[dict[str, Any] | None] = mapped_column(info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
