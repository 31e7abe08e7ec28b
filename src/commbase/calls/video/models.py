"""Video rooms, their participants and the quality samples browsers report.

A room belongs to one call of kind ``video`` (``calls.models.Call``): the call carries
the money, the lifecycle events and the seed's figures (waiting and response time,
reconnections, screen share, quality); the room carries what only video has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.calls.video.enums import RoomMode, RoomStatus
from commbase.core.db import (
    PERSONAL,
    Base,
    SerialBigInt,
    created_at_column,
    public_id,
    updated_at_column,
)


class VideoRoom(Base):
    __tablename__ = "video_rooms"
    __table_args__ = (
        Index("ix_video_rooms_org_created", "org_id", "created_at"),
        Index("ix_video_rooms_org_call", "org_id", "call_id"),
    )

    id: Mapped[str] = public_id("vroom")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    created_by_user_id: Mapped[str | None] = mapped_column(String(40))
    contact_id: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    customer_name: Mapped[str | None] = mapped_column(String(100), info=PERSONAL)
    mode: Mapped[str] = mapped_column(String(10), default=RoomMode.MESH)
    status: Mapped[str] = mapped_column(String(20), default=RoomStatus.CREATED)
    # Server clock: the first guest in, the first agent in, both together, the end.
    waiting_started_at: Mapped[datetime | None]
    agent_joined_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # The last moment an agent's and a guest's sockets were both open (the sweeper
    # bills a room nobody ended up to here).
    last_together_at: Mapped[datetime | None]
    waiting_seconds: Mapped[int | None]
    response_seconds: Mapped[int | None]
    reconnections: Mapped[int] = mapped_column(default=0)
    screen_share_used: Mapped[bool] = mapped_column(default=False)
    screen_share_seconds: Mapped[int] = mapped_column(default=0)
    quality_samples: Mapped[int] = mapped_column(default=0)
    # Running [sum, count] per reported figure (mos, rtt_ms, jitter_ms, packet_loss,
    # bitrate_kbps): the call's averages without reading every sample again.
    quality_totals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Guest links carry the generation they were signed in; revoking the links
    # issued so far moves it on, and a link of an earlier generation is refused.
    guest_link_generation: Mapped[int] = mapped_column(default=0)
    guest_links_revoked_at: Mapped[datetime | None]
    # Wrap-up (the agent) and rating (the guest).
    problem_solved: Mapped[bool | None]
    outcome: Mapped[str | None] = mapped_column(String(40))
    wrap_up_notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    wrapped_up_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    rated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class VideoParticipant(Base):
    """One person in a room. The access token (``cb_vpt_...``) is kept as its HMAC only."""

    __tablename__ = "video_participants"
    __table_args__ = (
        Index("ix_video_participants_org_room", "org_id", "room_id"),
        Index("ix_video_participants_org_user", "org_id", "user_id"),
        UniqueConstraint("token_hash"),
    )

    id: Mapped[str] = public_id("vpart")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    room_id: Mapped[str] = mapped_column(ForeignKey("video_rooms.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))  # Role
    user_id: Mapped[str | None] = mapped_column(String(40))
    # An agent session's or API key's own participant (None: the user's own, or a guest).
    credential_id: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100), info=PERSONAL)
    token_hash: Mapped[str] = mapped_column(String(64))
    token_expires_at: Mapped[datetime]
    joined_at: Mapped[datetime] = created_at_column()
    left_at: Mapped[datetime | None]
    connections: Mapped[int] = mapped_column(default=0)  # signalling sockets opened
    reconnections: Mapped[int] = mapped_column(default=0)
    connected_at: Mapped[datetime | None]  # the open socket's start (None: not connected)
    disconnected_at: Mapped[datetime | None]  # its last socket closed (None while connected)
    screen_share_started_at: Mapped[datetime | None]
    screen_share_seconds: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class VideoQualitySample(Base):
    """One ``getStats()`` report from a participant's browser."""

    __tablename__ = "video_quality_samples"
    __table_args__ = (
        Index("ix_video_quality_samples_org_room", "org_id", "room_id"),
        # The retention purge's lookup (video_quality_samples, by organization and age).
        Index("ix_video_quality_samples_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(SerialBigInt, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    room_id: Mapped[str] = mapped_column(ForeignKey("video_rooms.id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(String(40))
    rtt_ms: Mapped[int | None]
    jitter_ms: Mapped[int | None]
    packet_loss: Mapped[float | None]
    bitrate_kbps: Mapped[int | None]
    frame_width: Mapped[int | None]
    frame_height: Mapped[int | None]
    fps: Mapped[float | None]
    mos: Mapped[float | None]
    created_at: Mapped[datetime] = created_at_column()
