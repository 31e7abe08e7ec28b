"""Recordings of calls and voicemails, stored at the carrier and streamed through commbase."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.calls.recordings.enums import RecordingKind
from commbase.core.db import PERSONAL, Base, created_at_column, public_id


class CallRecording(Base):
    __tablename__ = "call_recordings"
    __table_args__ = (
        UniqueConstraint("provider", "provider_recording_id"),
        Index("ix_call_recordings_org_call", "org_id", "call_id"),
        Index("ix_call_recordings_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = public_id("rec")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), default=RecordingKind.CALL)
    status: Mapped[str] = mapped_column(String(20))  # RecordingStatus
    provider: Mapped[str] = mapped_column(String(20))
    provider_recording_id: Mapped[str] = mapped_column(String(64))
    # Where the carrier keeps the audio: fetched with the account's credentials.
    url: Mapped[str | None] = mapped_column(String(1000), info=PERSONAL)
    duration_seconds: Mapped[int | None]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    channels: Mapped[int | None]
    source: Mapped[str | None] = mapped_column(String(40))  # e.g. RecordVerb, DialVerb
    started_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
