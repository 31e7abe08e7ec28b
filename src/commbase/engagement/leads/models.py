"""Sales leads (ChciAI ``leads``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_org_updated", "org_id", "updated_at"),
        Index("ix_leads_org_follow_up", "org_id", "follow_up_status", "follow_up_at"),
        Index("ix_leads_org_contact", "org_id", "contact_id"),
    )

    id: Mapped[str] = public_id("lead")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    conversation_id: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    phone: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)  # E.164
    email: Mapped[str | None] = mapped_column(String(320), info=PERSONAL)
    company: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    source: Mapped[str] = mapped_column(String(20))
    interest: Mapped[str | None] = mapped_column(String(100))
    budget: Mapped[str | None] = mapped_column(String(50))
    timeline: Mapped[str | None] = mapped_column(String(50))
    score: Mapped[int]
    score_source: Mapped[str] = mapped_column(String(10))
    priority: Mapped[str] = mapped_column(String(10))
    follow_up_at: Mapped[datetime | None]
    follow_up_status: Mapped[str] = mapped_column(String(20))
    # When the follow-up job announced ``lead.follow_up_due`` for the current date.
    follow_up_due_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    converted: Mapped[bool] = mapped_column(default=False)
    converted_at: Mapped[datetime | None]
    deal_value: Mapped[int | None] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
