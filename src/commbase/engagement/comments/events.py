"""Event types comments record in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class CommentEvent(EventPayload):
    id: str
    author_id: str
    call_id: str | None
    ticket_id: str | None
    parent_id: str | None = None


class CommentMentionEvent(CommentEvent):
    mentioned_user_id: str


COMMENT_CREATED = define("comment.created", CommentEvent, "A member commented.")
COMMENT_UPDATED = define("comment.updated", CommentEvent, "A member edited their comment.")
COMMENT_DELETED = define("comment.deleted", CommentEvent, "A comment was deleted.")
COMMENT_MENTIONED = define(
    "comment.mentioned",
    CommentMentionEvent,
    "A comment @mentioned a member (mentioned_user_id); one event per member, sent on "
    "creation and when an edit adds them.",
)
