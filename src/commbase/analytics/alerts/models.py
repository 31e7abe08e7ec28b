"""Threshold alerts on metrics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.analytics.enums import AlertState
from commbase.core.db import Base, created_at_column, public_id, updated_at_column


class Alert(Base):
    """A threshold on a metric over a trailing window, checked by a job."""

    __tablename__ = "analytics_alerts"
    __table_args__ = (Index("ix_analytics_alerts_org", "org_id"),)

    id: Mapped[str] = public_id("alrt")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(120))
    comparator: Mapped[str] = mapped_column(String(3))  # Comparator
    threshold: Mapped[float] = mapped_column(Float)
    window_minutes: Mapped[int] = mapped_column(default=60)
    min_count: Mapped[int] = mapped_column(default=0)  # base facts needed before it can fire
    account_id: Mapped[str | None] = mapped_column(String(64))
    dimension: Mapped[str | None] = mapped_column(String(40))
    dimension_value: Mapped[str | None] = mapped_column(String(200))
    cooldown_minutes: Mapped[int] = mapped_column(default=60)
    enabled: Mapped[bool] = mapped_column(default=True)
    state: Mapped[str] = mapped_column(String(10), default=AlertState.OK)
    last_value: Mapped[float | None] = mapped_column(Float)
    last_checked_at: Mapped[datetime | None]
    last_triggered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
