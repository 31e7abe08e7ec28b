"""Webinar metrics: registrations, attendance and the attendance rate.

A registration counts in the hour it was made; joining, leaving and cancelling
move ``updated_at``, so its hour is folded again.
"""

from __future__ import annotations

from commbase.analytics.registry import Source, count, ratio, register, total
from commbase.engagement.webinars.enums import RegistrationStatus
from commbase.engagement.webinars.models import WebinarRegistration

REGISTRATIONS = Source(
    "webinar_registrations",
    WebinarRegistration.__table__,
    org=WebinarRegistration.org_id,
    time=WebinarRegistration.created_at,
    changed=WebinarRegistration.updated_at,
    dimensions={
        "webinar": WebinarRegistration.webinar_id,
        "status": WebinarRegistration.status,
        "source": WebinarRegistration.source,
    },
)

register(
    count("webinars.registrations", REGISTRATIONS, "Webinar registrations"),
    count(
        "webinars.attended",
        REGISTRATIONS,
        "Registrations whose registrant joined",
        where=WebinarRegistration.status == RegistrationStatus.ATTENDED,
    ),
    ratio(
        "webinars.attendance_rate",
        "webinars.attended",
        "webinars.registrations",
        "Attended / registered",
    ),
    total(
        "webinars.minutes_attended",
        REGISTRATIONS,
        WebinarRegistration.minutes_attended,
        "Minutes attended",
        unit="min",
    ),
)
