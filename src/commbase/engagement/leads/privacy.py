"""Leads' part in GDPR requests.

A lead is about a person: for a contact, the leads linked to it are exported,
and erased by emptying the name, phone, email, company and notes and unlinking
the contact (the deal's value and dates stay for the organization's figures).
A lead a website visitor left (linked to no contact) is found by its email: a
request about the user with that email, or about the email address itself,
exports and erases it the same way. Runs
before contacts and identity (order 300), whose erasure removes the rows these
are found through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.engagement.intake.subjects import left_by_email, user_email
from commbase.engagement.leads.models import Lead
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject

ANONYMISED: dict[str, Any] = {
    "contact_id": None,
    "name": None,
    "phone": None,
    "email": None,
    "company": None,
    "notes": None,
}


async def _export(
    session: AsyncSession, org_id: str, where: ColumnElement[bool]
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(select(Lead).where(Lead.org_id == org_id, where).order_by(Lead.id))
    return {"leads": as_records(rows)}


async def _erase(session: AsyncSession, org_id: str, where: ColumnElement[bool]) -> dict[str, int]:
    result = await session.execute(
        update(Lead)
        .where(Lead.org_id == org_id, where)
        .values(**ANONYMISED)
        .execution_options(synchronize_session=False)
    )
    return {"leads": rowcount(result)}


async def _of_user(session: AsyncSession, user_id: str) -> ColumnElement[bool]:
    email = await user_email(session, user_id=user_id)
    return left_by_email(Lead.email, email, Lead.contact_id)


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, Lead.contact_id == subject_id)


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, Lead.contact_id == subject_id)


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, await _of_user(session, subject_id))


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, await _of_user(session, subject_id))


async def export_email(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, left_by_email(Lead.email, subject_id, Lead.contact_id))


async def erase_email(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, left_by_email(Lead.email, subject_id, Lead.contact_id))


register_subject(
    "engagement.leads",
    "email",
    tables={"leads"},
    export=export_email,
    erase=erase_email,
    order=300,
)
register_subject(
    "engagement.leads",
    "contact",
    tables={"leads"},
    export=export_contact,
    erase=erase_contact,
    order=300,
)
register_subject(
    "engagement.leads",
    "user",
    tables={"leads"},
    export=export_user,
    erase=erase_user,
    order=300,
)
