"""Event types suggestions record in the outbox."""

from __future__ import annotations

from commbase.core.events import EventPayload, define


class SuggestionEvent(EventPayload):
    id: str
    category: str
    status: str


class SuggestionUpdated(SuggestionEvent):
    fields: list[str]


class SuggestionVoted(SuggestionEvent):
    upvotes: int
    downvotes: int
    score: int


class SuggestionCommented(SuggestionEvent):
    comment_id: str


SUGGESTION_CREATED = define("suggestion.created", SuggestionEvent, "A suggestion was submitted.")
SUGGESTION_UPDATED = define("suggestion.updated", SuggestionUpdated, "A suggestion changed.")
SUGGESTION_STATUS_CHANGED = define(
    "suggestion.status_changed", SuggestionEvent, "A suggestion moved to another status."
)
SUGGESTION_VOTED = define("suggestion.voted", SuggestionVoted, "A vote was cast or changed.")
SUGGESTION_COMMENTED = define(
    "suggestion.commented", SuggestionCommented, "A comment was added to a suggestion."
)
