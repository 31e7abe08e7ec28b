"""Kinds the contact book names."""

from __future__ import annotations

from enum import StrEnum


class OwnerKind(StrEnum):
    """Who a contact belongs to: a user, or a guest agent session acting for one."""

    USER = "user"
    AGENT_SESSION = "agent_session"
