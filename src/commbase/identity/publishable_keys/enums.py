"""Statuses of publishable keys."""

from __future__ import annotations

from enum import StrEnum


class PublishableKeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
