"""Statuses of webinars and their registrations."""

from __future__ import annotations

from enum import StrEnum


class WebinarStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class RegistrationStatus(StrEnum):
    """registered -> attended (on first join); registered or attended -> cancelled."""

    REGISTERED = "registered"
    ATTENDED = "attended"
    CANCELLED = "cancelled"


class RegistrationSource(StrEnum):
    STAFF = "staff"  # through the API with staff credentials
    INTAKE = "intake"  # a website form with a publishable key


# The record type intake access tokens name.
INTAKE_RECORD_TYPE = "webinar_registration"
