"""Leads' part in GDPR requests.

A lead is about a person: for a contact, the leads linked to it are exported,
and erased by emptying the name, phone, email, company and notes and unlinking
the contact (the deal's value and dates stay for the organization's figures).
Leads name no user. Runs before contacts (order 300), whose erasure removes
the link these are found by.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.engagement.leads.models import Lead
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Lead).where(Lead.org_id == org_id, Lead.contact_id == subject_id).order_by(Lead.id)
    )
    return {"leads": as_records(rows)}


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    result = await session.execute(
        update(Lead)
        .where(Lead.org_id == org_id, Lead.contact_id == subject_id)
        .values(contact_id=None, name=None, phone=None, email=None, company=None, notes=None)
        .execution_options(synchronize_session=False)
    )
    return {"leads": rowcount(result)}


register_subject(
    "engagement.leads",
    "contact",
    tables={"leads"},
    export=export_contact,
    erase=erase_contact,
    order=300,
)
