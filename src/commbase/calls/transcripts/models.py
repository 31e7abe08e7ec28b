"""Transcripts of calls: segments, full text, expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.orm import Mapped, mapped_column

from commbase.calls.transcripts.enums import SearchConfig, TranscriptStatus
from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Transcript(Base):
    __tablename__ = "transcripts"
    __table_args__ = (
        Index("ix_transcripts_org_created", "org_id", "created_at"),
        UniqueConstraint("call_id"),
    )

    id: Mapped[str] = public_id("trans")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(16), default="en-US")
    speaker_labels_enabled: Mapped[bool] = mapped_column(default=True)
    # How its text is searched, chosen from ``language`` (see ``fulltext``). A
    # ``regconfig`` on PostgreSQL, so an index can hold to_tsvector(search_config, text).
    search_config: Mapped[str] = mapped_column(
        String(20).with_variant(REGCONFIG(), "postgresql"), default=SearchConfig.ENGLISH
    )
    status: Mapped[str] = mapped_column(String(20), default=TranscriptStatus.PROCESSING)
    segments: Mapped[list[dict[str, Any]]] = mapped_column(default=list, info=PERSONAL)
    text: Mapped[str] = mapped_column(Text, default="", info=PERSONAL)
    word_count: Mapped[int] = mapped_column(default=0)
    duration_seconds: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
