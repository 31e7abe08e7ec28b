"""How an inbound call was routed."""

from __future__ import annotations

from enum import StrEnum


class InboundRoute(StrEnum):
    AGENT = "agent"  # an AI agent over the live channel (Twilio: ConversationRelay)
    CONNECT = "connect"  # the number's external agent (wss://), bridged by commbase
    MEMBER = "member"  # a member's phone rings
    FORWARD = "forward"  # forwarded to the number's forward_to
    VOICEMAIL = "voicemail"  # after hours: greeting, then a recorded message
    AFTER_HOURS_FORWARD = "after_hours_forward"  # after hours: greeting, then forwarded
    HANGUP = "hangup"  # after hours: greeting, then goodbye (private numbers' voicemail)
    UNAVAILABLE = "unavailable"  # no wallet covers the call: a message, then goodbye
    REJECTED = "rejected"  # the caller is a blocked contact: never answered
