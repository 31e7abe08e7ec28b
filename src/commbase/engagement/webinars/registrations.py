"""Webinar registrations: register (one per email per webinar, within capacity),
join and leave (minutes attended), engagement counts, feedback, cancel.

Capacity holds under concurrency: registering locks the webinar's row first
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite runs one writer at a time), so
two sign-ups for the last seat queue and the second finds the webinar full.
One email, one registration: a unique constraint on (webinar, email); a
cancelled registration is reopened when its email registers again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core import outbox
from commbase.core.errors import AlreadyExists, Conflict, NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.webinars import events
from commbase.engagement.webinars.enums import (
    RegistrationSource,
    RegistrationStatus,
    WebinarStatus,
)
from commbase.engagement.webinars.models import Webinar, WebinarRegistration
from commbase.engagement.webinars.schemas import Engagement, Feedback, RegistrationFields
from commbase.engagement.webinars.service import get_webinar
from commbase.identity import service as identity_service


def _payload(registration: WebinarRegistration) -> dict[str, Any]:
    return {
        "id": registration.id,
        "webinar_id": registration.webinar_id,
        "status": registration.status,
        "source": registration.source,
    }


async def _held(session: AsyncSession, webinar: Webinar) -> int:
    held = await session.scalar(
        select(func.count()).where(
            WebinarRegistration.webinar_id == webinar.id,
            WebinarRegistration.status != RegistrationStatus.CANCELLED,
        )
    )
    return int(held or 0)


async def register(
    session: AsyncSession,
    *,
    org_id: str,
    webinar_id: str,
    data: RegistrationFields,
    source: RegistrationSource,
    user_id: str | None = None,
    contact_id: str | None = None,
) -> WebinarRegistration:
    """Register ``data.email``; AlreadyExists (409) if it is registered, Conflict (409)
    if the webinar is cancelled or full."""
    if user_id is not None:
        await identity_service.get_member_user(session, org_id=org_id, user_id=user_id)
    if contact_id is not None:
        await contacts_service.get_contact(session, org_id=org_id, contact_id=contact_id)
    webinar = await get_webinar(session, org_id=org_id, webinar_id=webinar_id, for_update=True)
    if webinar.status == WebinarStatus.CANCELLED:
        raise Conflict("The webinar is cancelled")
    email = str(data.email).lower()
    existing = await session.scalar(
        select(WebinarRegistration).where(
            WebinarRegistration.webinar_id == webinar.id, WebinarRegistration.email == email
        )
    )
    if existing is not None and existing.status != RegistrationStatus.CANCELLED:
        raise AlreadyExists(
            "This email is registered for the webinar already", registration_id=existing.id
        )
    if webinar.capacity is not None and await _held(session, webinar) >= webinar.capacity:
        raise Conflict("The webinar is full", capacity=webinar.capacity)
    registration = existing or WebinarRegistration(org_id=org_id, webinar_id=webinar.id)
    registration.email = email
    registration.name = data.name
    registration.company = data.company
    registration.user_id = user_id
    registration.contact_id = contact_id
    registration.source = source
    registration.status = RegistrationStatus.REGISTERED
    registration.cancelled_at = None
    if existing is None:
        session.add(registration)
    await session.flush()
    await outbox.record(session, events.REGISTRATION_CREATED, _payload(registration), org_id=org_id)
    return registration


async def register_visitor(
    session: AsyncSession, *, org_id: str, webinar_id: str, data: RegistrationFields
) -> WebinarRegistration | None:
    """A website visitor's sign-up; None when the email is registered already (the
    caller answers as if it had worked, telling strangers nothing)."""
    try:
        return await register(
            session,
            org_id=org_id,
            webinar_id=webinar_id,
            data=data,
            source=RegistrationSource.INTAKE,
        )
    except AlreadyExists:
        return None  # raised before anything was written


async def get_registration(
    session: AsyncSession, *, org_id: str, registration_id: str
) -> WebinarRegistration:
    registration = await session.scalar(
        select(WebinarRegistration).where(
            WebinarRegistration.org_id == org_id, WebinarRegistration.id == registration_id
        )
    )
    if registration is None:
        raise NotFound("Registration not found")
    return registration


async def list_registrations(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    webinar_id: str | None = None,
    email: str | None = None,
    user_id: str | None = None,
    contact_id: str | None = None,
    status: RegistrationStatus | None = None,
) -> tuple[Sequence[WebinarRegistration], str | None]:
    """One page of registrations, newest first; by email needs staff credentials."""
    statement = select(WebinarRegistration).where(WebinarRegistration.org_id == org_id)
    if webinar_id is not None:
        statement = statement.where(WebinarRegistration.webinar_id == webinar_id)
    if email is not None:
        statement = statement.where(WebinarRegistration.email == email.lower())
    if user_id is not None:
        statement = statement.where(WebinarRegistration.user_id == user_id)
    if contact_id is not None:
        statement = statement.where(WebinarRegistration.contact_id == contact_id)
    if status is not None:
        statement = statement.where(WebinarRegistration.status == status)
    return await paginate(session, statement, id_column=WebinarRegistration.id, params=params)


def _check_active(registration: WebinarRegistration) -> None:
    if registration.status == RegistrationStatus.CANCELLED:
        raise Conflict("The registration is cancelled")


async def cancel(
    session: AsyncSession, *, registration: WebinarRegistration
) -> WebinarRegistration:
    _check_active(registration)
    registration.status = RegistrationStatus.CANCELLED
    registration.cancelled_at = utcnow()
    await session.flush()
    await outbox.record(
        session, events.REGISTRATION_CANCELLED, _payload(registration), org_id=registration.org_id
    )
    return registration


async def join(session: AsyncSession, *, registration: WebinarRegistration) -> WebinarRegistration:
    """The registrant joined: attended from now on; a join while in session is a no-op."""
    _check_active(registration)
    if registration.in_session_since is not None:
        return registration
    now = utcnow()
    registration.joined_at = registration.joined_at or now
    registration.in_session_since = now
    registration.status = RegistrationStatus.ATTENDED
    await session.flush()
    await outbox.record(
        session, events.REGISTRATION_JOINED, _payload(registration), org_id=registration.org_id
    )
    return registration


async def leave(session: AsyncSession, *, registration: WebinarRegistration) -> WebinarRegistration:
    """The registrant left: the session's minutes (rounded up) are added."""
    if registration.in_session_since is None:
        raise Conflict("The registrant is not in the webinar")
    now = utcnow()
    seconds = (now - registration.in_session_since).total_seconds()
    registration.minutes_attended += max(1, math.ceil(seconds / 60))
    registration.left_at = now
    registration.in_session_since = None
    await session.flush()
    await outbox.record(
        session,
        events.REGISTRATION_LEFT,
        {**_payload(registration), "minutes_attended": registration.minutes_attended},
        org_id=registration.org_id,
    )
    return registration


async def add_engagement(
    session: AsyncSession, *, registration: WebinarRegistration, counts: Engagement
) -> WebinarRegistration:
    """Add to the engagement counts in one UPDATE, so concurrent reports all count."""
    _check_active(registration)
    await session.execute(
        update(WebinarRegistration)
        .where(WebinarRegistration.id == registration.id)
        .values(
            questions_asked=WebinarRegistration.questions_asked + counts.questions_asked,
            polls_answered=WebinarRegistration.polls_answered + counts.polls_answered,
            chat_messages=WebinarRegistration.chat_messages + counts.chat_messages,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(registration)
    return registration


async def give_feedback(
    session: AsyncSession, *, registration: WebinarRegistration, feedback: Feedback
) -> WebinarRegistration:
    """Rate the webinar, once attended (a second rating replaces the first)."""
    if registration.status != RegistrationStatus.ATTENDED:
        raise Conflict("Only someone who attended can rate the webinar")
    registration.feedback_rating = feedback.rating
    registration.feedback_comment = feedback.comment
    registration.feedback_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        events.REGISTRATION_FEEDBACK,
        {**_payload(registration), "rating": feedback.rating},
        org_id=registration.org_id,
    )
    return registration
