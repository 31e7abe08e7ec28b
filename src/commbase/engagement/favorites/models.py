"""A user's favorites (seed 002 ``userfavorites``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Favorite(Base):
    __tablename__ = "favorites"
    __table_args__ = (
        # One favorite per user, type and item.
        UniqueConstraint("org_id", "user_id", "type", "item_id"),
        Index("ix_favorites_org_user_folder", "org_id", "user_id", "folder"),
    )

    id: Mapped[str] = public_id("fav")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, info=PERSONAL)
    folder: Mapped[str | None] = mapped_column(String(100), info=PERSONAL)
    usage_count: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
