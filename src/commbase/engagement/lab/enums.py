"""States of a lab experiment."""

from __future__ import annotations

from enum import StrEnum


class LabStatus(StrEnum):
    """Where an AI lab run is."""

    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
