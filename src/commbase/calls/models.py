"""Calls (voice and video), their provider events and actions, and transcripts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from commbase.calls.enums import CallDirection, CallKind, CallStatus
from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.core.indexes import where_set


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        # Every call is written four times in its first minutes (placed, stamped for
        # dialing, given the carrier's id, finished), each write an entry in every
        # index whose column it changes -- or in all of them, unless the new version
        # fits on the row's page and no indexed column changed (HOT): on PostgreSQL
        # ``fillfactor`` 70 leaves that room (migration 0055), and the dial stamp
        # changes no indexed column (it leaves ``updated_at``: nothing a client or a
        # metric reads changes). Columns most calls leave empty are indexed only where
        # set (queries name a value, which implies NOT NULL); calls are found by
        # number with ``to_number OR from_number`` (or ``contact_id``), which an index
        # of ``to_number`` alone does not serve, so there is none.
        Index("ix_calls_org_created", "org_id", "created_at"),
        Index("ix_calls_org_updated", "org_id", "updated_at"),
        Index("ix_calls_org_status", "org_id", "status"),
        Index("ix_calls_org_user", "org_id", "user_id", **where_set("user_id")),
        Index(
            "ix_calls_org_agent_session",
            "org_id",
            "agent_session_id",
            **where_set("agent_session_id"),
        ),
        Index(
            "ix_calls_personal_data_expires_at",
            "personal_data_expires_at",
            **where_set("personal_data_expires_at"),
        ),
        Index(
            "uq_calls_provider_call_id",
            "provider",
            "provider_call_id",
            unique=True,
            **where_set("provider_call_id"),
        ),
        # A retried placement finds its call by the request's Idempotency-Key, which
        # commits with the call itself (DESIGN rule 12).
        Index(
            "uq_calls_org_idempotency_key",
            "org_id",
            "idempotency_key",
            unique=True,
            **where_set("idempotency_key"),
        ),
    )

    id: Mapped[str] = public_id("call")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default=CallKind.VOICE)
    direction: Mapped[str] = mapped_column(String(10), default=CallDirection.OUTBOUND)
    # Who placed it.
    user_id: Mapped[str | None] = mapped_column(String(40))
    agent_session_id: Mapped[str | None] = mapped_column(String(40))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    wallet_id: Mapped[str | None] = mapped_column(String(40))
    contact_id: Mapped[str | None] = mapped_column(String(40))
    # Parties (null once a private call is erased).
    from_number: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)
    to_number: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)
    to_number_formatted: Mapped[str | None] = mapped_column(String(40), info=PERSONAL)
    to_country: Mapped[str | None] = mapped_column(String(2))
    to_line_type: Mapped[str | None] = mapped_column(String(20))
    to_carrier: Mapped[str | None] = mapped_column(String(100))
    privacy_mode: Mapped[bool] = mapped_column(default=False)
    caller_id_name: Mapped[str | None] = mapped_column(String(100), info=PERSONAL)
    # Timeline and state.
    status: Mapped[str] = mapped_column(String(20), default=CallStatus.QUEUED)
    end_reason: Mapped[str | None] = mapped_column(String(30))
    initiated_at: Mapped[datetime | None]
    ringing_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    waiting_time_seconds: Mapped[int | None]
    response_time_seconds: Mapped[int | None]
    reconnections: Mapped[int] = mapped_column(default=0)
    screenshare_used: Mapped[bool] = mapped_column(default=False)
    problem_solved: Mapped[bool | None]
    max_duration_seconds: Mapped[int] = mapped_column(default=3600)
    # Money.
    rate_per_minute: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    currency: Mapped[str | None] = mapped_column(String(3))
    hold_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_minutes: Mapped[int] = mapped_column(default=0)
    billable_minutes: Mapped[int | None]
    cost_amount: Mapped[int | None] = mapped_column(BigInteger)
    cost_breakdown: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ledger_entry_id: Mapped[str | None] = mapped_column(String(40))
    # Quality (SDK reports), with a derived label.
    mos_score: Mapped[float | None]
    latency_ms: Mapped[int | None]
    jitter_ms: Mapped[int | None]
    packet_loss: Mapped[float | None]
    codec: Mapped[str | None] = mapped_column(String(20))
    video_resolution: Mapped[str | None] = mapped_column(String(20))
    frame_rate: Mapped[float | None]
    bitrate_kbps: Mapped[int | None]
    quality: Mapped[str | None] = mapped_column(String(10))  # Quality
    # Features.
    recording_enabled: Mapped[bool] = mapped_column(default=False)
    recording_url: Mapped[str | None] = mapped_column(String(1000), info=PERSONAL)
    transcription_enabled: Mapped[bool] = mapped_column(default=False)
    # An agent talks on this call over the live channel (``calls.live``): with Twilio
    # the answered call is connected to ConversationRelay instead of a silent pause.
    live_agent: Mapped[bool] = mapped_column(default=False)
    # ...carrying audio (Twilio Media Streams, μ-law frames) instead of text.
    live_audio: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Provider: the carrier the call went through (test-mode calls: always the simulator).
    provider: Mapped[str] = mapped_column(String(20))
    provider_call_id: Mapped[str | None] = mapped_column(String(100))
    provider_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    livemode: Mapped[bool] = mapped_column(default=True)
    # The dial after commit: when the last attempt started, with which reference (the
    # outbox event id, sent to carriers as the idempotency key).
    dial_attempted_at: Mapped[datetime | None]
    dial_reference: Mapped[str | None] = mapped_column(String(40))
    # The credential-scoped Idempotency-Key of the placing request, and a hash of its body.
    idempotency_key: Mapped[str | None] = mapped_column(String(300))
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Agent sessions' data_retention consent: when the call's personal data goes.
    data_retention: Mapped[str | None] = mapped_column(String(20))
    personal_data_expires_at: Mapped[datetime | None]
    # Context, analysis, review.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, info=PERSONAL)
    tags: Mapped[list[str]] = mapped_column(default=list)
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    review_rating: Mapped[int | None]
    review_comment: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    reviewed_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CallEvent(Base):
    """Each provider status report as received: the audit trail of a call's lifecycle."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_org_call", "org_id", "call_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    applied: Mapped[bool]
    source: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()


class CallAction(Base):
    """An in-call action (``ActionKind``): dtmf, hold, unhold, mute, unmute, transfer, hangup."""

    __tablename__ = "call_actions"
    __table_args__ = (Index("ix_call_actions_org_call", "org_id", "call_id"),)

    id: Mapped[str] = public_id("act")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
