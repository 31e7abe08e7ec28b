"""Customers: who an organization bills."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Customer(Base):
    """A contact, a user or another organization that the organization bills."""

    __tablename__ = "billing_customers"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "reference_id"),
        Index("ix_billing_customers_reference", "kind", "reference_id"),
    )

    id: Mapped[str] = public_id("cus")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # CustomerKind
    # The contact's, user's or organization's id.
    reference_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    email: Mapped[str | None] = mapped_column(String(320), info=PERSONAL)
    address: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    tax_country: Mapped[str | None] = mapped_column(String(2))
    tax_id: Mapped[str | None] = mapped_column(String(40), info=PERSONAL)
    default_payment_method: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
