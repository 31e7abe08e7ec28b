"""Careers: positions, applications through their stages (``enums.allowed_next``),
offers, withdrawals and resumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.careers import events, resumes
from commbase.engagement.careers.enums import (
    PIPELINE,
    ApplicationSource,
    ApplicationStage,
    PositionStatus,
    allowed_next,
)
from commbase.engagement.careers.models import JobApplication, Position
from commbase.engagement.careers.schemas import (
    Applicant,
    ApplicationCreate,
    OfferCreate,
    PositionCreate,
    PositionUpdate,
)
from commbase.identity import service as identity_service

# ------------------------------------------------------------------ positions


async def create_position(session: AsyncSession, *, org_id: str, data: PositionCreate) -> Position:
    position = Position(org_id=org_id, **data.model_dump())
    session.add(position)
    await session.flush()
    return position


async def get_position(session: AsyncSession, *, org_id: str, position_id: str) -> Position:
    position = await session.scalar(
        select(Position).where(Position.org_id == org_id, Position.id == position_id)
    )
    if position is None:
        raise NotFound("Position not found")
    return position


async def list_positions(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: PositionStatus | None = None,
) -> tuple[Sequence[Position], str | None]:
    statement = select(Position).where(Position.org_id == org_id)
    if status is not None:
        statement = statement.where(Position.status == status)
    return await paginate(session, statement, id_column=Position.id, params=params)


async def update_position(
    session: AsyncSession, *, position: Position, changes: PositionUpdate
) -> Position:
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(position, field, value)
    await session.flush()
    return position


# --------------------------------------------------------------- applications


async def _announce(
    session: AsyncSession,
    event_type: str,
    application: JobApplication,
    *,
    from_stage: str | None = None,
) -> None:
    payload: dict[str, Any] = {
        "id": application.id,
        "position_id": application.position_id,
        "stage": application.stage,
        "from_stage": from_stage,
    }
    if event_type == events.APPLICATION_SUBMITTED:
        payload["source"] = application.source
    await outbox.record(session, event_type, payload, org_id=application.org_id)


async def _submit(
    session: AsyncSession, *, org_id: str, data: Applicant, source: ApplicationSource, **extra: Any
) -> JobApplication:
    position = await get_position(session, org_id=org_id, position_id=data.position_id)
    if position.status != PositionStatus.OPEN:
        raise Conflict("This position is closed to applications")
    fields = data.model_dump(exclude={"website", "user_id", "contact_id"})
    application = JobApplication(org_id=org_id, source=source, **fields, **extra)
    application.email = application.email.lower()
    session.add(application)
    await session.flush()
    await _announce(session, events.APPLICATION_SUBMITTED, application)
    return application


async def create_application(
    session: AsyncSession, *, org_id: str, data: ApplicationCreate
) -> JobApplication:
    if data.user_id is not None:
        await identity_service.get_member_user(session, org_id=org_id, user_id=data.user_id)
    if data.contact_id is not None:
        await contacts_service.get_contact(session, org_id=org_id, contact_id=data.contact_id)
    return await _submit(
        session,
        org_id=org_id,
        data=data,
        source=ApplicationSource.API,
        user_id=data.user_id,
        contact_id=data.contact_id,
    )


async def submit_from_intake(
    session: AsyncSession, *, org_id: str, data: Applicant
) -> JobApplication:
    return await _submit(session, org_id=org_id, data=data, source=ApplicationSource.INTAKE)


async def get_application(
    session: AsyncSession, *, org_id: str, application_id: str, lock: bool = False
) -> JobApplication:
    statement = select(JobApplication).where(
        JobApplication.org_id == org_id, JobApplication.id == application_id
    )
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    application = await session.scalar(statement)
    if application is None:
        raise NotFound("Application not found")
    return application


async def list_applications(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    position_id: str | None = None,
    stage: ApplicationStage | None = None,
    email: str | None = None,
    user_id: str | None = None,
) -> tuple[Sequence[JobApplication], str | None]:
    statement: Select[Any] = select(JobApplication).where(JobApplication.org_id == org_id)
    filters = {
        JobApplication.position_id: position_id,
        JobApplication.stage: stage,
        JobApplication.email: email.lower() if email else None,
        JobApplication.user_id: user_id,
    }
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    return await paginate(session, statement, id_column=JobApplication.id, params=params)


async def change_stage(
    session: AsyncSession,
    *,
    application: JobApplication,
    stage: ApplicationStage,
    reason: str | None = None,
) -> JobApplication:
    """Move the application along the documented transitions (409 otherwise)."""
    current = ApplicationStage(application.stage)
    if stage not in allowed_next(current):
        raise Conflict(
            f"An application at {current} cannot move to {stage}",
            stage=current.value,
            allowed=sorted(s.value for s in allowed_next(current)),
        )
    now = utcnow()
    application.stage = stage
    application.stage_changed_at = now
    if stage == ApplicationStage.REJECTED:
        application.rejection_reason = reason
    elif stage == ApplicationStage.WITHDRAWN:
        application.withdrawal_reason = reason
    elif stage in (ApplicationStage.OFFER_ACCEPTED, ApplicationStage.OFFER_DECLINED):
        application.offer_answered_at = now
    elif stage == ApplicationStage.HIRED:
        application.hired_at = now
    await session.flush()
    kind = (
        events.APPLICATION_WITHDRAWN
        if stage == ApplicationStage.WITHDRAWN
        else events.APPLICATION_STAGE_CHANGED
    )
    await _announce(session, kind, application, from_stage=current.value)
    return application


async def extend_offer(
    session: AsyncSession, *, application: JobApplication, offer: OfferCreate
) -> JobApplication:
    current = ApplicationStage(application.stage)
    if current not in PIPELINE:
        raise Conflict(f"An application at {current} cannot receive an offer")
    application.stage = ApplicationStage.OFFER_EXTENDED
    application.stage_changed_at = application.offered_at = utcnow()
    application.offer_salary = offer.salary
    application.offer_currency = offer.currency
    application.offer_start_date = offer.start_date
    application.offer_expires_at = offer.expires_at
    await session.flush()
    await _announce(
        session, events.APPLICATION_OFFER_EXTENDED, application, from_stage=current.value
    )
    return application


async def attach_resume(
    session: AsyncSession,
    *,
    application: JobApplication,
    content: bytes,
    content_type: str | None,
    filename: str | None,
    policy: resumes.ResumePolicy,
) -> JobApplication:
    """Store the resume (replacing an earlier one once this transaction commits)."""
    if application.stage in (ApplicationStage.WITHDRAWN, ApplicationStage.REJECTED):
        raise Conflict(f"A {application.stage} application takes no resume")
    media_type = resumes.check(content, content_type, policy)
    stored = await resumes.store(
        policy,
        org_id=application.org_id,
        application_id=application.id,
        content=content,
        media_type=media_type,
    )
    if application.resume_path != stored.path:
        # The old file goes once the new one is committed; the new one goes if it is not.
        resumes.remove_after_commit(session, application.resume_path)
        resumes.remove_after_rollback(session, stored.path)
    application.resume_path = stored.path
    application.resume_size = stored.size
    application.resume_sha256 = stored.sha256
    application.resume_content_type = stored.content_type
    application.resume_filename = filename
    await session.flush()
    await _announce(session, events.APPLICATION_RESUME_UPLOADED, application)
    return application
