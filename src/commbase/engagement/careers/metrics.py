"""Careers metrics, by the hour an application was submitted: applications, and
applications by stage (split by the ``stage`` dimension)."""

from __future__ import annotations

from commbase.analytics.registry import Source, count, ratio, register
from commbase.engagement.careers.enums import ApplicationStage
from commbase.engagement.careers.models import JobApplication

APPLICATIONS = Source(
    "job_applications",
    JobApplication.__table__,
    org=JobApplication.org_id,
    time=JobApplication.created_at,
    changed=JobApplication.updated_at,
    dimensions={
        "stage": JobApplication.stage,
        "position": JobApplication.position_id,
        "source": JobApplication.source,
    },
)

register(
    count(
        "applications.submitted",
        APPLICATIONS,
        "Job applications submitted (split by stage for applications by stage)",
    ),
    count(
        "applications.hired",
        APPLICATIONS,
        "Applications that ended in a hire",
        where=JobApplication.stage == ApplicationStage.HIRED,
    ),
    count(
        "applications.rejected",
        APPLICATIONS,
        "Applications rejected",
        where=JobApplication.stage == ApplicationStage.REJECTED,
    ),
    ratio(
        "applications.hire_rate",
        "applications.hired",
        "applications.submitted",
        "Hired / submitted",
    ),
)
