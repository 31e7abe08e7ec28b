"""Community suggestions, their votes and comments (seed 002 ``communitysuggestions``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column


class Suggestion(Base):
    __tablename__ = "suggestions"
    __table_args__ = (
        Index("ix_suggestions_org_score", "org_id", "score", "id"),
        Index("ix_suggestions_org_updated", "org_id", "updated_at"),
        Index("ix_suggestions_org_author", "org_id", "author_user_id"),
        Index("ix_suggestions_org_email", "org_id", "author_email"),
    )

    id: Mapped[str] = public_id("sug")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    author_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A website visitor's address (intake), lowercased: how GDPR requests find it.
    author_email: Mapped[str | None] = mapped_column(String(320), info=PERSONAL)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, info=PERSONAL)
    category: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    upvotes: Mapped[int] = mapped_column(default=0)
    downvotes: Mapped[int] = mapped_column(default=0)
    score: Mapped[int] = mapped_column(default=0)  # upvotes - downvotes
    comment_count: Mapped[int] = mapped_column(default=0)
    implementation_notes: Mapped[str | None] = mapped_column(Text)
    implemented_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SuggestionVote(Base):
    __tablename__ = "suggestion_votes"
    __table_args__ = (
        UniqueConstraint("suggestion_id", "user_id"),
        Index("ix_suggestion_votes_org_updated", "org_id", "updated_at"),
        Index("ix_suggestion_votes_org_user", "org_id", "user_id"),
    )

    id: Mapped[str] = public_id("sgv")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    suggestion_id: Mapped[str] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    value: Mapped[int]  # +1 or -1
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SuggestionComment(Base):
    __tablename__ = "suggestion_comments"
    __table_args__ = (
        Index("ix_suggestion_comments_suggestion", "suggestion_id", "id"),
        Index("ix_suggestion_comments_org_author", "org_id", "author_user_id"),
    )

    id: Mapped[str] = public_id("sgc")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    suggestion_id: Mapped[str] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"))
    author_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, info=PERSONAL)
    created_at: Mapped[datetime] = created_at_column()
