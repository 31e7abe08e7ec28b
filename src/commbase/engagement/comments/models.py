"""A member's comment on a call or a support ticket (exactly one of the two).

A reply names its thread's first comment (``parent_id``) on the same call or ticket;
threads are one level deep. ``mentions`` lists the members the comment @mentions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint("(call_id IS NULL) <> (ticket_id IS NULL)", name="one_target"),
        Index("ix_comments_org_call", "org_id", "call_id", "id"),
        Index("ix_comments_org_ticket", "org_id", "ticket_id", "id"),
        Index("ix_comments_org_author", "org_id", "author_id"),
        Index("ix_comments_org_parent", "org_id", "parent_id"),
    )

    id: Mapped[str] = public_id("cmt")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    ticket_id: Mapped[str | None] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE")
    )
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Erasing an author keeps other members' replies (as first comments of their own).
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    mentions: Mapped[list[str]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text, info=PERSONAL)
    edited_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
