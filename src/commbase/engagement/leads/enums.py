"""Kinds and statuses of sales leads."""

from __future__ import annotations

from enum import StrEnum


class LeadSource(StrEnum):
    VOICE_CALL = "voice_call"
    CHAT = "chat"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    EMAIL = "email"
    WEB_FORM = "web_form"
    REFERRAL = "referral"
    OTHER = "other"


class LeadPriority(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class FollowUpStatus(StrEnum):
    """pending -> contacted -> converted or lost (converted and lost are final)."""

    PENDING = "pending"
    CONTACTED = "contacted"
    CONVERTED = "converted"
    LOST = "lost"


OPEN = (FollowUpStatus.PENDING, FollowUpStatus.CONTACTED)


class ScoreSource(StrEnum):
    """Who set the lead score: the caller (its AI), or commbase's default rule."""

    GIVEN = "given"
    RULE = "rule"
