"""A user's link to an external identity provider's account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id


class ExternalIdentity(Base):
    """The provider's subject (``sub``, Firebase's uid) is kept only as HMAC-SHA256
    keyed with the server secret: enough to find the user again, nothing to read."""

    __tablename__ = "external_identities"
    __table_args__ = (UniqueConstraint("provider", "subject_hash"),)

    id: Mapped[str] = public_id("xid")
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    subject_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None]
