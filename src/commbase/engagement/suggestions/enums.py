"""Categories and statuses of community suggestions."""

from __future__ import annotations

from enum import StrEnum


class SuggestionCategory(StrEnum):
    """Seed 002's ten categories."""

    FEATURE_REQUEST = "feature_request"
    BUG_REPORT = "bug_report"
    IMPROVEMENT = "improvement"
    INTEGRATION = "integration"
    UI_UX = "ui_ux"
    PERFORMANCE = "performance"
    DOCUMENTATION = "documentation"
    NEW_AGENT = "new_agent"
    CONTENT = "content"
    OTHER = "other"


class SuggestionStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    DECLINED = "declined"


class VoteValue(StrEnum):
    """``none`` withdraws the caller's vote."""

    UP = "up"
    DOWN = "down"
    NONE = "none"


class SuggestionSort(StrEnum):
    SCORE = "score"  # most up minus down votes first
    NEWEST = "newest"


# The record type of a website visitor's access token (public intake).
INTAKE_RECORD_TYPE = "suggestion"
