"""Consultations: requested (staff or a website form), scheduled with a meeting link
and host, then completed with an outcome, cancelled or marked no-show; the requester
gives feedback once after it took place.

    requested --schedule--> scheduled --schedule--> scheduled (rescheduled)
    requested | scheduled --cancel--> cancelled
    scheduled --complete--> completed --feedback (once)
    scheduled --no_show--> no_show
"""

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
from commbase.engagement.consultations import events
from commbase.engagement.consultations.enums import (
    OPEN,
    ConsultationSource,
    ConsultationStatus,
    ConsultationType,
)
from commbase.engagement.consultations.models import Consultation
from commbase.engagement.consultations.schemas import (
    ConsultationCancel,
    ConsultationComplete,
    ConsultationCreate,
    ConsultationFeedbackCreate,
    ConsultationIntake,
    ConsultationSchedule,
    ConsultationUpdate,
)
from commbase.identity import service as identity_service


async def _announce(session: AsyncSession, event_type: str, row: Consultation) -> None:
    payload: dict[str, Any] = {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
        "host_id": row.host_id,
        "outcome": row.outcome,
    }
    if event_type == events.CONSULTATION_REQUESTED:
        payload["source"] = row.source
    await outbox.record(session, event_type, payload, org_id=row.org_id)


async def _check_people(
    session: AsyncSession,
    *,
    org_id: str,
    user_id: str | None = None,
    contact_id: str | None = None,
    host_id: str | None = None,
) -> None:
    for member in (user_id, host_id):
        if member is not None:
            await identity_service.get_member_user(session, org_id=org_id, user_id=member)
    if contact_id is not None:
        await contacts_service.get_contact(session, org_id=org_id, contact_id=contact_id)


async def _request(session: AsyncSession, row: Consultation) -> Consultation:
    if row.requester_email:
        row.requester_email = row.requester_email.lower()
    session.add(row)
    await session.flush()
    await _announce(session, events.CONSULTATION_REQUESTED, row)
    return row


async def create_consultation(
    session: AsyncSession, *, org_id: str, data: ConsultationCreate
) -> Consultation:
    await _check_people(session, org_id=org_id, user_id=data.user_id, contact_id=data.contact_id)
    row = Consultation(org_id=org_id, source=ConsultationSource.API, **data.model_dump())
    return await _request(session, row)


async def create_from_intake(
    session: AsyncSession, *, org_id: str, data: ConsultationIntake
) -> Consultation:
    row = Consultation(
        org_id=org_id,
        source=ConsultationSource.INTAKE,
        **data.model_dump(exclude={"website"}),
    )
    return await _request(session, row)


async def get_consultation(
    session: AsyncSession, *, org_id: str, consultation_id: str, lock: bool = False
) -> Consultation:
    statement = select(Consultation).where(
        Consultation.org_id == org_id, Consultation.id == consultation_id
    )
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(statement)
    if row is None:
        raise NotFound("Consultation not found")
    return row


async def list_consultations(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    status: ConsultationStatus | None = None,
    type_: ConsultationType | None = None,
    user_id: str | None = None,
    contact_id: str | None = None,
    host_id: str | None = None,
    email: str | None = None,
) -> tuple[Sequence[Consultation], str | None]:
    statement: Select[Any] = select(Consultation).where(Consultation.org_id == org_id)
    filters = {
        Consultation.status: status,
        Consultation.type: type_,
        Consultation.user_id: user_id,
        Consultation.contact_id: contact_id,
        Consultation.host_id: host_id,
        Consultation.requester_email: email.lower() if email else None,
    }
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    return await paginate(session, statement, id_column=Consultation.id, params=params)


async def update_consultation(
    session: AsyncSession, *, row: Consultation, changes: ConsultationUpdate
) -> Consultation:
    data = changes.model_dump(exclude_unset=True)
    await _check_people(
        session, org_id=row.org_id, user_id=data.get("user_id"), contact_id=data.get("contact_id")
    )
    for field, value in data.items():
        setattr(row, field, value)
    await session.flush()
    return row


async def schedule(
    session: AsyncSession, *, row: Consultation, data: ConsultationSchedule
) -> Consultation:
    """Set (or move) the meeting."""
    if row.status not in OPEN:
        raise Conflict(
            f"A {row.status} consultation cannot be scheduled", current_status=row.status
        )
    await _check_people(session, org_id=row.org_id, host_id=data.host_id)
    row.status = ConsultationStatus.SCHEDULED
    row.scheduled_at = data.scheduled_at
    row.duration_minutes = data.duration_minutes
    if data.meeting_url is not None:
        row.meeting_url = data.meeting_url
    if data.host_id is not None:
        row.host_id = data.host_id
    row.scheduled_count += 1
    await session.flush()
    await _announce(session, events.CONSULTATION_SCHEDULED, row)
    return row


async def complete(
    session: AsyncSession, *, row: Consultation, data: ConsultationComplete
) -> Consultation:
    if row.status != ConsultationStatus.SCHEDULED:
        raise Conflict("Only a scheduled consultation can be completed", current_status=row.status)
    row.status = ConsultationStatus.COMPLETED
    row.completed_at = utcnow()
    row.outcome = data.outcome
    row.outcome_notes = data.outcome_notes
    await session.flush()
    await _announce(session, events.CONSULTATION_COMPLETED, row)
    return row


async def mark_no_show(session: AsyncSession, *, row: Consultation) -> Consultation:
    if row.status != ConsultationStatus.SCHEDULED:
        raise Conflict("Only a scheduled consultation can be a no-show", current_status=row.status)
    row.status = ConsultationStatus.NO_SHOW
    await session.flush()
    await _announce(session, events.CONSULTATION_NO_SHOW, row)
    return row


async def cancel(
    session: AsyncSession, *, row: Consultation, data: ConsultationCancel
) -> Consultation:
    if row.status not in OPEN:
        raise Conflict(
            f"A {row.status} consultation cannot be cancelled", current_status=row.status
        )
    row.status = ConsultationStatus.CANCELLED
    row.cancelled_at = utcnow()
    row.cancel_reason = data.reason
    await session.flush()
    await _announce(session, events.CONSULTATION_CANCELLED, row)
    return row


async def give_feedback(
    session: AsyncSession, *, row: Consultation, data: ConsultationFeedbackCreate
) -> Consultation:
    if row.status != ConsultationStatus.COMPLETED:
        raise Conflict(
            "Feedback is given once the consultation took place", current_status=row.status
        )
    if row.feedback_rating is not None:
        raise Conflict("Feedback was given already")
    row.feedback_rating = data.rating
    row.feedback_comment = data.comment
    row.feedback_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        events.CONSULTATION_FEEDBACK,
        {"id": row.id, "rating": data.rating},
        org_id=row.org_id,
    )
    return row
