"""Interviews of an application: schedule, move, complete (rating, notes), cancel."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.engagement.careers import events
from commbase.engagement.careers.enums import FINAL, ApplicationStage, InterviewStatus
from commbase.engagement.careers.models import Interview, JobApplication
from commbase.engagement.careers.schemas import InterviewCreate, InterviewUpdate
from commbase.identity import service as identity_service


async def _announce(session: AsyncSession, event_type: str, interview: Interview) -> None:
    await outbox.record(
        session,
        event_type,
        {
            "id": interview.id,
            "application_id": interview.application_id,
            "status": interview.status,
            "scheduled_at": interview.scheduled_at.isoformat(),
        },
        org_id=interview.org_id,
    )


async def schedule(
    session: AsyncSession, *, application: JobApplication, data: InterviewCreate
) -> Interview:
    if ApplicationStage(application.stage) in FINAL:
        raise Conflict(f"A {application.stage} application has no more interviews")
    if data.interviewer_id is not None:
        await identity_service.get_member_user(
            session, org_id=application.org_id, user_id=data.interviewer_id
        )
    interview = Interview(
        org_id=application.org_id, application_id=application.id, **data.model_dump()
    )
    session.add(interview)
    await session.flush()
    await _announce(session, events.INTERVIEW_SCHEDULED, interview)
    return interview


async def list_interviews(
    session: AsyncSession, *, application: JobApplication, params: PageParams
) -> tuple[Sequence[Interview], str | None]:
    statement = select(Interview).where(
        Interview.org_id == application.org_id, Interview.application_id == application.id
    )
    return await paginate(session, statement, id_column=Interview.id, params=params)


async def get_interview(
    session: AsyncSession, *, application: JobApplication, interview_id: str
) -> Interview:
    interview = await session.scalar(
        select(Interview).where(
            Interview.org_id == application.org_id,
            Interview.application_id == application.id,
            Interview.id == interview_id,
        )
    )
    if interview is None:
        raise NotFound("Interview not found")
    return interview


async def update(
    session: AsyncSession, *, interview: Interview, changes: InterviewUpdate
) -> Interview:
    if interview.status != InterviewStatus.SCHEDULED:
        raise Conflict(f"A {interview.status} interview cannot be changed")
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(interview, field, value)
    await session.flush()
    await _announce(session, events.INTERVIEW_UPDATED, interview)
    return interview
