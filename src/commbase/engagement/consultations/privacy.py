"""Consultations in GDPR requests: a consultation about a user (``user_id``) or a
contact (``contact_id``) is theirs -- exported, and deleted on erasure with its
visitor access tokens. One a website visitor requested (linked to no user or
contact) is found by a request about its email address, case-insensitively, and
goes the same way. An erased user stops hosting consultations (``host_id``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core.db import rowcount
from commbase.engagement.consultations.enums import INTAKE_RECORD_TYPE
from commbase.engagement.consultations.metrics import CONSULTATIONS
from commbase.engagement.consultations.models import Consultation
from commbase.engagement.intake.access import forget_access
from commbase.engagement.intake.subjects import left_by_email
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject


async def _export(
    session: AsyncSession, org_id: str, where: ColumnElement[bool]
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(Consultation).where(Consultation.org_id == org_id, where).order_by(Consultation.id)
    )
    return {"consultations": as_records(rows)}


async def _erase(session: AsyncSession, org_id: str, where: ColumnElement[bool]) -> dict[str, int]:
    rows = (
        await session.execute(
            select(Consultation.id, Consultation.created_at).where(
                Consultation.org_id == org_id, where
            )
        )
    ).all()
    ids = [row.id for row in rows]
    if not ids:
        return {"consultations": 0}
    await touches.touch(
        session, org_id=org_id, source=CONSULTATIONS, times=[r.created_at for r in rows]
    )
    await forget_access(session, org_id=org_id, record_type=INTAKE_RECORD_TYPE, record_ids=ids)
    result = await session.execute(delete(Consultation).where(Consultation.id.in_(ids)))
    return {"consultations": rowcount(result)}


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, Consultation.user_id == subject_id)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    erased = await _erase(session, org_id, Consultation.user_id == subject_id)
    await session.execute(
        update(Consultation)
        .where(Consultation.org_id == org_id, Consultation.host_id == subject_id)
        .values(host_id=None)
    )
    return erased


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, Consultation.contact_id == subject_id)


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, Consultation.contact_id == subject_id)


def _left_by(email: str) -> ColumnElement[bool]:
    return left_by_email(
        Consultation.requester_email, email, Consultation.user_id, Consultation.contact_id
    )


async def export_email(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, _left_by(subject_id))


async def erase_email(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, _left_by(subject_id))


# Before contacts and identity, whose deletions would unlink the consultations first.
register_subject(
    "engagement.consultations",
    "user",
    tables={"consultations"},
    export=export_user,
    erase=erase_user,
    order=300,
)
register_subject(
    "engagement.consultations",
    "email",
    tables={"consultations"},
    export=export_email,
    erase=erase_email,
    order=300,
)
register_subject(
    "engagement.consultations",
    "contact",
    tables={"consultations"},
    export=export_contact,
    erase=erase_contact,
    order=300,
)
