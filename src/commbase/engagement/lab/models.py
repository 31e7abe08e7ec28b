"""The lab experiments table (moved from tracking; same table, same indexes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class LabExperiment(Base):
    """An AI lab run (seed 002's LabExperiment)."""

    __tablename__ = "lab_experiments"
    __table_args__ = (
        Index("ix_lab_experiments_org_occurred", "org_id", "occurred_at"),
        Index("ix_lab_experiments_org_updated", "org_id", "updated_at"),
        Index("ix_lab_experiments_org_user", "org_id", "user_id"),
    )

    id: Mapped[str] = public_id("lab")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(64))
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    experiment_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))  # LabStatus
    input: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    output: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    processing_time_ms: Mapped[int | None]
    tokens_used: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
