"""Webinars and their registrations (seed 002 ``webinarregistrations``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Webinar(Base):
    __tablename__ = "webinars"
    __table_args__ = (
        Index("ix_webinars_org_starts", "org_id", "starts_at"),
        Index("ix_webinars_org_updated", "org_id", "updated_at"),
    )

    id: Mapped[str] = public_id("wbn")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime]
    duration_min: Mapped[int]
    capacity: Mapped[int | None]  # None: no limit
    join_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class WebinarRegistration(Base):
    __tablename__ = "webinar_registrations"
    __table_args__ = (
        # One registration per email per webinar (emails are stored lower-cased).
        UniqueConstraint("webinar_id", "email"),
        Index("ix_webinar_registrations_org_updated", "org_id", "updated_at"),
        Index("ix_webinar_registrations_org_email", "org_id", "email"),
        Index("ix_webinar_registrations_org_user", "org_id", "user_id"),
        Index("ix_webinar_registrations_org_contact", "org_id", "contact_id"),
    )

    id: Mapped[str] = public_id("wreg")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    webinar_id: Mapped[str] = mapped_column(ForeignKey("webinars.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(320), info=PERSONAL)
    name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    company: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    # Attendance: first join, last leave, the open session's start, minutes summed.
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    in_session_since: Mapped[datetime | None]
    minutes_attended: Mapped[int] = mapped_column(default=0)
    # Engagement during the webinar.
    questions_asked: Mapped[int] = mapped_column(default=0)
    polls_answered: Mapped[int] = mapped_column(default=0)
    chat_messages: Mapped[int] = mapped_column(default=0)
    feedback_rating: Mapped[int | None]
    feedback_comment: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    feedback_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
