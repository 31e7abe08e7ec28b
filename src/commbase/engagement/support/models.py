"""Support tickets, their threads and each organization's ticket counter."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column
from commbase.engagement.support.enums import TicketStatus


class TicketCounter(Base):
    """The last ticket number an organization gave: incremented under a row lock in the
    transaction that creates the ticket, so numbers are unique and gapless."""

    __tablename__ = "support_ticket_counters"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(default=0)


class SlaTargets(Base):
    """An organization's service-level targets for one priority, in minutes from a
    ticket's opening; a priority without a row uses ``enums.SLA_TARGETS``."""

    __tablename__ = "support_sla_targets"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    priority: Mapped[str] = mapped_column(String(10), primary_key=True)
    first_response_min: Mapped[int]
    resolution_min: Mapped[int]
    updated_at: Mapped[datetime] = updated_at_column()


class SupportTicket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        Index("ix_support_tickets_org_status", "org_id", "status"),
        Index("ix_support_tickets_org_email", "org_id", "requester_email"),
        Index("ix_support_tickets_org_updated", "org_id", "updated_at"),
        Index("ix_support_tickets_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = public_id("tkt")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[int]
    subject: Mapped[str] = mapped_column(String(200), info=PERSONAL)
    description: Mapped[str] = mapped_column(Text, info=PERSONAL)
    category: Mapped[str] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=TicketStatus.OPEN)
    source: Mapped[str] = mapped_column(String(10))
    requester_name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    requester_email: Mapped[str | None] = mapped_column(String(254), info=PERSONAL)
    # The organization's user the ticket is about (seed 002's userId), or its contact.
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[str | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    assignee_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    resolution: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    satisfaction_rating: Mapped[int | None]
    satisfaction_comment: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    rated_at: Mapped[datetime | None]
    first_response_due_at: Mapped[datetime]
    resolution_due_at: Mapped[datetime]
    first_responded_at: Mapped[datetime | None]
    first_response_s: Mapped[int | None]
    resolved_at: Mapped[datetime | None]
    resolution_s: Mapped[int | None]
    closed_at: Mapped[datetime | None]
    first_response_breached_at: Mapped[datetime | None]
    resolution_breached_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TicketMessage(Base):
    """One message of a ticket's thread; ``internal`` notes are never shown to the
    customer."""

    __tablename__ = "support_ticket_messages"
    __table_args__ = (Index("ix_support_ticket_messages_org_ticket", "org_id", "ticket_id"),)

    id: Mapped[str] = public_id("tmsg")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    ticket_id: Mapped[str] = mapped_column(ForeignKey("support_tickets.id", ondelete="CASCADE"))
    author_type: Mapped[str] = mapped_column(String(10))
    author_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    body: Mapped[str] = mapped_column(Text, info=PERSONAL)
    internal: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at_column()
