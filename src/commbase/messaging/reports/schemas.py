"""API shapes of messaging reports."""

from __future__ import annotations

from enum import StrEnum

from commbase.core.schemas import ReadSchema


class ReportGroup(StrEnum):
    ACCOUNT = "account"  # the conversation's channel account
    AGENT = "agent"  # the member the conversation is assigned to
    LABEL = "label"  # each label of the conversation (a conversation counts under each)


class ReportRow(ReadSchema):
    key: str | None  # account id, user id or label; null: unassigned (agent)
    conversations: int
    incoming_messages: int
    outgoing_messages: int
    avg_first_response_s: float | None
    resolutions: int
    avg_resolution_s: float | None


class MessagingReport(ReadSchema):
    group_by: ReportGroup
    start: str
    end: str
    data: list[ReportRow]
