"""Webhook endpoints, their deliveries and every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.webhooks.enums import DeliveryStatus, EndpointStatus


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_org_status", "org_id", "status"),
        Index("ix_webhook_endpoints_org_agent_session", "org_id", "owner_agent_session_id"),
    )

    id: Mapped[str] = public_id("wh")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(default=list)  # names and wildcards
    # Signing secrets, encrypted with a key derived from the server secret.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default=EndpointStatus.ACTIVE)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    owner_user_id: Mapped[str | None] = mapped_column(String(40))
    # Set when an agent session created it: only that session sees it and hears
    # only events about its own work.
    owner_agent_session_id: Mapped[str | None] = mapped_column(String(40))
    retry_schedule: Mapped[list[int]] = mapped_column(default=lambda: [60, 300, 900])
    total_attempts: Mapped[int] = mapped_column(default=0)
    successful_deliveries: Mapped[int] = mapped_column(default=0)
    failed_deliveries: Mapped[int] = mapped_column(default=0)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_delivery_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class WebhookDelivery(Base):
    """One event for one endpoint; ``event_id`` is the ``webhook-id`` receivers dedupe on."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_org_endpoint", "org_id", "endpoint_id"),
        Index("ix_webhook_deliveries_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = public_id("msg")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(100))
    # {"type", "timestamp", "data"}; null once expired or erased.
    payload: Mapped[dict[str, Any] | None] = mapped_column(info=PERSONAL)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_org_delivery", "org_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int]
    url: Mapped[str] = mapped_column(String(2048))
    request_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)  # first 2 KB
    latency_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(20))  # an AttemptOutcome
    succeeded: Mapped[bool]
    worker: Mapped[str] = mapped_column(String(100))
    attempted_at: Mapped[datetime]
