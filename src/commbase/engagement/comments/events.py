"""Event types comments record in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class CommentEvent(EventPayload):
    id: str
    author_id: str
    call_id: str | None
    ticket_id: str | None


COMMENT_CREATED = define("comment.created", CommentEvent, "A member commented.")
COMMENT_UPDATED = define("comment.updated", CommentEvent, "A member edited their comment.")
COMMENT_DELETED = define("comment.deleted", CommentEvent, "A comment was deleted.")
