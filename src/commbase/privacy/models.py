"""GDPR requests (exports and erasures) and per-organization retention overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class PrivacyRequest(Base):
    """One export or erasure of a subject's data, kept as the record that it happened."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        Index("ix_privacy_requests_org_subject", "org_id", "subject_type", "subject_id"),
    )

    id: Mapped[str] = public_id("prv")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # export | erasure
    subject_type: Mapped[str] = mapped_column(String(20))  # user | contact
    subject_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # completed
    requested_by: Mapped[str | None] = mapped_column(String(40))
    # Rows per exported file, or rows changed per table by an erasure.
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The export's zip: everything about the subject. Cleared when the download
    # expires and when the subject is erased.
    file: Mapped[bytes | None] = mapped_column(LargeBinary, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class RetentionPolicy(Base):
    """An organization's own retention period for one kind of data."""

    __tablename__ = "retention_policies"
    __table_args__ = (UniqueConstraint("org_id", "kind"),)

    id: Mapped[str] = public_id("ret")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    days: Mapped[int]
    updated_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
