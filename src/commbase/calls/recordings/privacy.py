"""Recordings in GDPR requests and retention.

A user's recordings are those of the calls they placed or took (``calls.user_id``);
a contact's, those of calls linked to the contact or to or from its number. Export
lists them (the carrier's URL included: it is the subject's data); erasure deletes
the rows. The ``call_recordings`` retention kind deletes recordings older than the
period (default 90 days) and empties their calls' ``recording_url``.

This eraser runs before the calls' own (which unlinks calls from the contact).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.models import Call
from commbase.calls.recordings.models import CallRecording
from commbase.contacts import service as contacts_service
from commbase.core.db import rowcount
from commbase.privacy.records import as_records
from commbase.privacy.registry import RetentionWindow, register_retention, register_subject

TABLES = {"call_recordings"}
DEFAULT_DAYS = 90
ORDER = 90  # before calls (100)


async def _of_user(org_id: str, subject_id: str) -> ColumnElement[bool]:
    return CallRecording.call_id.in_(
        select(Call.id).where(Call.org_id == org_id, Call.user_id == subject_id)
    )


async def _of_contact(session: AsyncSession, org_id: str, subject_id: str) -> ColumnElement[bool]:
    contact = await contacts_service.get_contact(session, org_id=org_id, contact_id=subject_id)
    linked: ColumnElement[bool] = Call.contact_id == contact.id
    if contact.phone:
        linked = or_(linked, Call.to_number == contact.phone, Call.from_number == contact.phone)
    return CallRecording.call_id.in_(select(Call.id).where(Call.org_id == org_id, linked))


async def _export(
    session: AsyncSession, org_id: str, where: ColumnElement[bool]
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(CallRecording)
        .where(CallRecording.org_id == org_id, where)
        .order_by(CallRecording.id)
    )
    return {"call_recordings": as_records(rows)}


async def _erase(session: AsyncSession, org_id: str, where: ColumnElement[bool]) -> dict[str, int]:
    result = await session.execute(
        delete(CallRecording).where(CallRecording.org_id == org_id, where)
    )
    return {"call_recordings": rowcount(result)}


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, await _of_user(org_id, subject_id))


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, await _of_user(org_id, subject_id))


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    return await _export(session, org_id, await _of_contact(session, org_id, subject_id))


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await _erase(session, org_id, await _of_contact(session, org_id, subject_id))


async def purge_recordings(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    """Delete recordings older than each organization's period; their calls keep no link."""
    rows = (
        await session.execute(
            select(CallRecording.id, CallRecording.call_id)
            .where(window.older_than(CallRecording.org_id, CallRecording.created_at))
            .order_by(CallRecording.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    await session.execute(delete(CallRecording).where(CallRecording.id.in_([r.id for r in rows])))
    await session.execute(
        update(Call)
        .where(Call.id.in_({r.call_id for r in rows}))
        .values(recording_url=None)
        .execution_options(synchronize_session=False)
    )
    return len(rows)


register_subject(
    "call_recordings", "user", tables=TABLES, export=export_user, erase=erase_user, order=ORDER
)
register_subject(
    "call_recordings",
    "contact",
    tables=TABLES,
    export=export_contact,
    erase=erase_contact,
    order=ORDER,
)
register_retention(
    "call_recordings",
    default_days=DEFAULT_DAYS,
    purge=purge_recordings,
    per_organization=True,
    description="Call recordings and voicemails, counted from when they were stored",
)
