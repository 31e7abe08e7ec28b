"""Suggestion metrics: suggestions submitted and votes cast.

A vote counts in the hour it was first cast; changing it moves ``updated_at``.
A withdrawn vote is deleted, and its hour is refolded through analytics touches.
"""

from __future__ import annotations

from commbase.analytics.registry import Source, count, register
from commbase.engagement.suggestions.models import Suggestion, SuggestionVote

SUGGESTIONS = Source(
    "suggestions",
    Suggestion.__table__,
    org=Suggestion.org_id,
    time=Suggestion.created_at,
    changed=Suggestion.updated_at,
    dimensions={"category": Suggestion.category, "status": Suggestion.status},
)
VOTES = Source(
    "suggestion_votes",
    SuggestionVote.__table__,
    org=SuggestionVote.org_id,
    time=SuggestionVote.created_at,
    changed=SuggestionVote.updated_at,
)

register(
    count("suggestions.new", SUGGESTIONS, "Suggestions submitted"),
    count("suggestions.votes", VOTES, "Votes on suggestions"),
    count("suggestions.upvotes", VOTES, "Up votes", where=SuggestionVote.value > 0),
    count("suggestions.downvotes", VOTES, "Down votes", where=SuggestionVote.value < 0),
)
