"""Webinar registrations' part in GDPR requests.

A registration is about the person who registered: it is exported for the user
or contact it names, and erased (deleted, with the access tokens that opened it)
with them. A registration a website visitor made (linked to no user or contact)
is found by a request about its email address. Runs before contacts and identity
(order 300), which delete the rows these are found by. Webinars themselves hold no personal data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core.db import rowcount
from commbase.engagement.intake.access import forget_access
from commbase.engagement.intake.subjects import left_by_email
from commbase.engagement.webinars.enums import INTAKE_RECORD_TYPE
from commbase.engagement.webinars.metrics import REGISTRATIONS
from commbase.engagement.webinars.models import WebinarRegistration
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject


def _of_user(org_id: str, subject_id: str) -> ColumnElement[bool]:
    return (WebinarRegistration.org_id == org_id) & (WebinarRegistration.user_id == subject_id)


def _of_contact(org_id: str, subject_id: str) -> ColumnElement[bool]:
    return (WebinarRegistration.org_id == org_id) & (WebinarRegistration.contact_id == subject_id)


def _of_email(org_id: str, email: str) -> ColumnElement[bool]:
    registration = WebinarRegistration
    return (registration.org_id == org_id) & left_by_email(
        registration.email, email, registration.user_id, registration.contact_id
    )


async def _export(
    session: AsyncSession, where: ColumnElement[bool]
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(WebinarRegistration).where(where).order_by(WebinarRegistration.id)
    )
    return {"webinar_registrations": as_records(rows)}


async def _erase(session: AsyncSession, org_id: str, where: ColumnElement[bool]) -> dict[str, int]:
    rows = (
        await session.execute(
            select(WebinarRegistration.id, WebinarRegistration.created_at).where(where)
        )
    ).all()
    ids = [row.id for row in rows]
    # Deleted facts stop counting: their hours are refolded by analytics.
    await touches.touch(
        session, org_id=org_id, source=REGISTRATIONS, times=[row.created_at for row in rows]
    )
    await forget_access(session, org_id=org_id, record_type=INTAKE_RECORD_TYPE, record_ids=ids)
    result = await session.execute(delete(WebinarRegistration).where(where))
    return {"webinar_registrations": rowcount(result)}


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, _of_user(org_id, subject_id))


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, _of_user(org_id, subject_id))


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, _of_contact(org_id, subject_id))


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, _of_contact(org_id, subject_id))


async def export_email(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, _of_email(org_id, subject_id))


async def erase_email(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, _of_email(org_id, subject_id))


TABLES = {"webinar_registrations"}
register_subject(
    "engagement.webinars", "email", tables=TABLES, export=export_email, erase=erase_email, order=300
)
register_subject(
    "engagement.webinars", "user", tables=TABLES, export=export_user, erase=erase_user, order=300
)
register_subject(
    "engagement.webinars",
    "contact",
    tables=TABLES,
    export=export_contact,
    erase=erase_contact,
    order=300,
)
