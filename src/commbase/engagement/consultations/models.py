"""Consultations: demo and advisory meetings a prospect or customer asks for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.engagement.consultations.enums import ConsultationStatus


class Consultation(Base):
    __tablename__ = "consultations"
    __table_args__ = (
        Index("ix_consultations_org_status", "org_id", "status"),
        Index("ix_consultations_org_email", "org_id", "requester_email"),
        Index("ix_consultations_org_updated", "org_id", "updated_at"),
        Index("ix_consultations_org_scheduled", "org_id", "scheduled_at"),
    )

    id: Mapped[str] = public_id("cons")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default=ConsultationStatus.REQUESTED)
    source: Mapped[str] = mapped_column(String(10))
    requester_name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    requester_email: Mapped[str | None] = mapped_column(String(254), info=PERSONAL)
    requester_phone: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)
    job_title: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[str | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    # Company and project (seed 002's company{} and project{}).
    company_name: Mapped[str | None] = mapped_column(String(200))
    company_size: Mapped[str | None] = mapped_column(String(20))
    industry: Mapped[str | None] = mapped_column(String(100))
    project_description: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    budget_range: Mapped[str | None] = mapped_column(String(50))
    timeline: Mapped[str | None] = mapped_column(String(50))
    preferred_times: Mapped[str | None] = mapped_column(String(500))
    # The meeting.
    host_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    scheduled_at: Mapped[datetime | None]
    duration_minutes: Mapped[int | None]
    meeting_url: Mapped[str | None] = mapped_column(String(500))
    scheduled_count: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    feedback_rating: Mapped[int | None]
    feedback_comment: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    feedback_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
