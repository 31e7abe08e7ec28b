"""Phone numbers' capabilities, what answers them, and what happens out of hours."""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class AnswerMode(StrEnum):
    """Who answers an inbound call to the number during working hours."""

    AGENT = "agent"  # an AI agent on commbase's live channel (``/v1/calls/{id}/live``)
    CONNECT = "connect"  # commbase connects out to the agent's own ``wss://`` URL
    MEMBER = "member"  # a member of the organization: their phone rings
    FORWARD = "forward"  # forwarded to another number


class AfterHoursAction(StrEnum):
    """What an inbound call gets outside the organization's working hours, after the
    greeting."""

    VOICEMAIL = "voicemail"
    FORWARD = "forward"
    HANGUP = "hangup"
