"""Open positions, job applications and their interviews."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.engagement.careers.enums import (
    ApplicationStage,
    InterviewStatus,
    PositionStatus,
)


class Position(Base):
    __tablename__ = "career_positions"
    __table_args__ = (Index("ix_career_positions_org_status", "org_id", "status"),)

    id: Mapped[str] = public_id("pos")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(200))
    employment_type: Mapped[str] = mapped_column(String(20))
    remote: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=PositionStatus.OPEN)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class JobApplication(Base):
    __tablename__ = "job_applications"
    __table_args__ = (
        Index("ix_job_applications_org_stage", "org_id", "stage"),
        Index("ix_job_applications_org_email", "org_id", "email"),
        Index("ix_job_applications_org_position", "org_id", "position_id"),
        Index("ix_job_applications_org_updated", "org_id", "updated_at"),
    )

    id: Mapped[str] = public_id("japp")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    position_id: Mapped[str] = mapped_column(ForeignKey("career_positions.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20), default=ApplicationStage.SUBMITTED)
    source: Mapped[str] = mapped_column(String(10))
    first_name: Mapped[str] = mapped_column(String(100), info=PERSONAL)
    last_name: Mapped[str] = mapped_column(String(100), info=PERSONAL)
    email: Mapped[str] = mapped_column(String(254), info=PERSONAL)
    phone: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)
    linkedin_url: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    portfolio_url: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    cover_letter: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[str | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    # The resume, stored on disk under COMMBASE_CAREERS_RESUME_DIR.
    resume_path: Mapped[str | None] = mapped_column(String(1000))
    resume_filename: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    resume_content_type: Mapped[str | None] = mapped_column(String(100))
    resume_size: Mapped[int | None]
    resume_sha256: Mapped[str | None] = mapped_column(String(64))
    stage_changed_at: Mapped[datetime] = created_at_column()
    rejection_reason: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    # The offer, minor units of ``offer_currency`` per year.
    offer_salary: Mapped[int | None] = mapped_column(BigInteger)
    offer_currency: Mapped[str | None] = mapped_column(String(3))
    offer_start_date: Mapped[date | None]
    offer_expires_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    offer_answered_at: Mapped[datetime | None]
    hired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Interview(Base):
    __tablename__ = "job_interviews"
    __table_args__ = (Index("ix_job_interviews_org_application", "org_id", "application_id"),)

    id: Mapped[str] = public_id("intv")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(
        ForeignKey("job_applications.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    scheduled_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=45)
    interviewer_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    meeting_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=InterviewStatus.SCHEDULED)
    rating: Mapped[int | None]
    notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
