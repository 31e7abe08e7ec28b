"""Job applications in GDPR requests and retention.

An application of a user (``user_id``) or contact (``contact_id``) is exported with
its interviews and deleted on erasure, with its resume file (once the erasure
commits) and its visitor access tokens. An application a website visitor sent
(linked to no user or contact) is found by a request about its email address,
case-insensitively, and goes the same way. An erased member stops interviewing.
Rejected applications are deleted ``rejected_applications`` days (default 180)
after their rejection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core.db import rowcount
from commbase.engagement.careers import resumes
from commbase.engagement.careers.enums import INTAKE_RECORD_TYPE, ApplicationStage
from commbase.engagement.careers.metrics import APPLICATIONS
from commbase.engagement.careers.models import Interview, JobApplication
from commbase.engagement.intake.access import forget_access
from commbase.engagement.intake.subjects import left_by_email
from commbase.privacy.records import as_records
from commbase.privacy.registry import RetentionWindow, register_retention, register_subject

TABLES = {"job_applications", "job_interviews"}


async def _export(
    session: AsyncSession, org_id: str, where: ColumnElement[bool]
) -> dict[str, list[dict[str, Any]]]:
    applications = (
        await session.scalars(
            select(JobApplication)
            .where(JobApplication.org_id == org_id, where)
            .order_by(JobApplication.id)
        )
    ).all()
    found = await session.scalars(
        select(Interview)
        .where(
            Interview.org_id == org_id,
            Interview.application_id.in_([a.id for a in applications]),
        )
        .order_by(Interview.id)
    )
    return {
        "job_applications": as_records(applications, omit=("resume_path",)),
        "job_interviews": as_records(found),
    }


async def _delete(session: AsyncSession, org_id: str, ids: list[str]) -> dict[str, int]:
    rows = (
        await session.execute(
            select(JobApplication.created_at, JobApplication.resume_path).where(
                JobApplication.id.in_(ids)
            )
        )
    ).all()
    await touches.touch(
        session, org_id=org_id, source=APPLICATIONS, times=[r.created_at for r in rows]
    )
    resumes.remove_after_commit(session, *(r.resume_path for r in rows))
    removed = await session.execute(
        delete(Interview).where(Interview.org_id == org_id, Interview.application_id.in_(ids))
    )
    await forget_access(session, org_id=org_id, record_type=INTAKE_RECORD_TYPE, record_ids=ids)
    result = await session.execute(delete(JobApplication).where(JobApplication.id.in_(ids)))
    return {"job_applications": rowcount(result), "job_interviews": rowcount(removed)}


async def _erase(session: AsyncSession, org_id: str, where: ColumnElement[bool]) -> dict[str, int]:
    ids = list(
        await session.scalars(
            select(JobApplication.id).where(JobApplication.org_id == org_id, where)
        )
    )
    if not ids:
        return {"job_applications": 0, "job_interviews": 0}
    return await _delete(session, org_id, ids)


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, JobApplication.user_id == subject_id)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    erased = await _erase(session, org_id, JobApplication.user_id == subject_id)
    await session.execute(
        update(Interview)
        .where(Interview.org_id == org_id, Interview.interviewer_id == subject_id)
        .values(interviewer_id=None)
    )
    return erased


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, JobApplication.contact_id == subject_id)


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, JobApplication.contact_id == subject_id)


def _left_by(email: str) -> ColumnElement[bool]:
    return left_by_email(
        JobApplication.email, email, JobApplication.user_id, JobApplication.contact_id
    )


async def export_email(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, _left_by(subject_id))


async def erase_email(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, _left_by(subject_id))


async def purge_rejected(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    rows = (
        await session.execute(
            select(JobApplication.id, JobApplication.org_id)
            .where(
                JobApplication.stage == ApplicationStage.REJECTED,
                window.older_than(JobApplication.org_id, JobApplication.stage_changed_at),
            )
            .limit(limit)
        )
    ).all()
    by_org: dict[str, list[str]] = {}
    for row in rows:
        by_org.setdefault(row.org_id, []).append(row.id)
    for org_id, ids in by_org.items():
        await _delete(session, org_id, ids)
    return len(rows)


# Before contacts and identity, whose deletions would unlink the applications first.
register_subject(
    "engagement.careers",
    "user",
    tables=TABLES,
    export=export_user,
    erase=erase_user,
    order=300,
)
register_subject(
    "engagement.careers",
    "contact",
    tables=TABLES,
    export=export_contact,
    erase=erase_contact,
    order=300,
)
register_subject(
    "engagement.careers",
    "email",
    tables=TABLES,
    export=export_email,
    erase=erase_email,
    order=300,
)
register_retention(
    "rejected_applications",
    default_days=180,
    purge=purge_rejected,
    per_organization=True,
    description="Rejected job applications, with their interviews and resume files",
)
