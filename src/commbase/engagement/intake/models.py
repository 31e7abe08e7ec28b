"""A visitor's access tokens: each opens one intake record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import Base, created_at_column, public_id


class IntakeAccess(Base):
    """The HMAC of a ``cb_acc_`` token and the one record it opens."""

    __tablename__ = "intake_access_tokens"
    __table_args__ = (
        Index("ix_intake_access_tokens_org_record", "org_id", "record_type", "record_id"),
    )

    id: Mapped[str] = public_id("iac")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    publishable_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("publishable_keys.id", ondelete="SET NULL")
    )
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(40))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
