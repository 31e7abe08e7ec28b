"""Calls' part in GDPR requests and retention (privacy mode lives in ``calls.privacy_mode``).

A user's calls are those they placed (``user_id``, which agent sessions acting
for them set too); a contact's are those to its phone number or linked to it.
Erasure keeps each call -- the organization bills and counts it -- with every
personal column emptied, and the user's id swapped for the erasure's anonymous
reference; what exists only for the conversation goes: transcript, provider
reports, in-call actions.

Transcripts expire by the ``expires_at`` stamped when they finish, from the
organization's ``transcript_retention_days`` setting. The ``transcripts``
retention kind keeps that setting and the stamps in step with the override.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.models import Call, CallAction, CallEvent
from commbase.calls.transcripts import service as transcripts
from commbase.calls.transcripts.models import Transcript
from commbase.contacts import service as contacts_service
from commbase.core.db import rowcount
from commbase.core.literals import listed
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.privacy.records import as_records, blank_personal
from commbase.privacy.registry import RetentionWindow, register_retention, register_subject

TABLES = {"calls", "call_events", "call_actions", "transcripts"}
SETTING = "transcript_retention_days"
DEFAULT_TRANSCRIPT_DAYS = 30  # Settings.transcript_retention_days
CHUNK = 500  # ids per list parameter
# A chunk is one list parameter, "chunk" (``core.literals.listed``): one text on
# PostgreSQL whatever the chunk's length. An erasure's statements keep the session's
# objects in step by the rows they touched ("fetch": a listed chunk is a condition the
# ORM cannot evaluate in Python).
_FETCHED = {"synchronize_session": "fetch"}


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]


async def _call_ids(session: AsyncSession, where: ColumnElement[bool]) -> list[str]:
    return list(await session.scalars(select(Call.id).where(where).order_by(Call.id)))


async def _of_user(session: AsyncSession, *, org_id: str, user_id: str) -> list[str]:
    return await _call_ids(session, (Call.org_id == org_id) & (Call.user_id == user_id))


async def _of_contact(session: AsyncSession, *, org_id: str, contact_id: str) -> list[str]:
    contact = await contacts_service.get_contact(session, org_id=org_id, contact_id=contact_id)
    to_contact = Call.contact_id == contact.id
    if contact.phone:
        to_contact = or_(to_contact, Call.to_number == contact.phone)
    return await _call_ids(session, (Call.org_id == org_id) & to_contact)


async def _export(
    session: AsyncSession, *, org_id: str, call_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    files: dict[str, list[dict[str, Any]]] = {name: [] for name in sorted(TABLES)}
    for chunk in _chunks(call_ids):
        calls = select(Call).where(Call.org_id == org_id, listed(Call.id, "chunk"))
        calls = calls.order_by(Call.id)
        files["calls"] += as_records(await session.scalars(calls, {"chunk": chunk}))
        for name, model in (
            ("call_events", CallEvent),
            ("call_actions", CallAction),
            ("transcripts", Transcript),
        ):
            rows = await session.scalars(
                select(model)
                .where(model.org_id == org_id, listed(model.call_id, "chunk"))
                .order_by(model.id),
                {"chunk": chunk},
            )
            files[name] += as_records(rows)
    return files


async def _erase(
    session: AsyncSession, *, org_id: str, call_ids: list[str], keep: dict[Any, Any]
) -> dict[str, int]:
    counts = dict.fromkeys(sorted(TABLES), 0)
    now = utcnow()
    for chunk in _chunks(call_ids):
        in_chunk = (Transcript.org_id == org_id) & listed(Transcript.call_id, "chunk")
        counts["transcripts"] += int(
            await session.scalar(
                select(func.count()).select_from(Transcript).where(in_chunk), {"chunk": chunk}
            )
            or 0
        )
        for call_id in chunk:  # keeps the SQLite search index in step
            await transcripts.erase_for_call(session, org_id=org_id, call_id=call_id)
        for name, model in (("call_events", CallEvent), ("call_actions", CallAction)):
            counts[name] += rowcount(
                await session.execute(
                    delete(model).where(model.org_id == org_id, listed(model.call_id, "chunk")),
                    {"chunk": chunk},
                    execution_options=_FETCHED,
                )
            )
        counts["calls"] += rowcount(
            await session.execute(
                update(Call)
                .where(Call.org_id == org_id, listed(Call.id, "chunk"))
                .values({**blank_personal(Call), **keep, Call.erased_at: now}),
                {"chunk": chunk},
                execution_options=_FETCHED,
            )
        )
    return counts


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    ids = await _of_user(session, org_id=org_id, user_id=subject_id)
    return await _export(session, org_id=org_id, call_ids=ids)


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    ids = await _of_user(session, org_id=org_id, user_id=subject_id)
    return await _erase(session, org_id=org_id, call_ids=ids, keep={Call.user_id: reference})


async def export_contact(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    ids = await _of_contact(session, org_id=org_id, contact_id=subject_id)
    return await _export(session, org_id=org_id, call_ids=ids)


async def erase_contact(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    ids = await _of_contact(session, org_id=org_id, contact_id=subject_id)
    return await _erase(session, org_id=org_id, call_ids=ids, keep={Call.contact_id: None})


async def erase_personal_data(
    session: AsyncSession, *, org_id: str, call_ids: list[str]
) -> dict[str, int]:
    """Erase what is personal in these calls (their retention ran out), keeping each
    call for billing and analytics; returns rows changed per table."""
    return await _erase(session, org_id=org_id, call_ids=call_ids, keep={Call.contact_id: None})


# ---------------------------------------------------------------- retention


async def purge_transcripts(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    """Delete transcripts past the expiry stamped on them (from each organization's period)."""
    return await transcripts.delete_expired(session, now=window.now, batch_size=limit)


async def apply_transcript_retention(
    session: AsyncSession, *, org_id: str, days: int | None
) -> None:
    """Stamp the organization's finished transcripts, and those to come, with its new period."""
    org = await identity_service.get_organization(session, org_id=org_id)
    settings = {key: value for key, value in org.settings.items() if key != SETTING}
    if days is not None:
        settings[SETTING] = days
    org.settings = settings
    period = timedelta(days=DEFAULT_TRANSCRIPT_DAYS if days is None else days)
    rows = (
        await session.execute(
            select(Transcript.id, Transcript.completed_at, Transcript.updated_at).where(
                Transcript.org_id == org_id, Transcript.expires_at.is_not(None)
            )
        )
    ).all()
    if rows:
        # A failed transcript has no completed_at; it finished when it was last written.
        await session.execute(
            update(Transcript),
            [
                {
                    "id": row.id,
                    "expires_at": (row.completed_at or row.updated_at) + period,
                    "updated_at": row.updated_at,
                }
                for row in rows
            ],
        )


register_subject("calls", "user", tables=TABLES, export=export_user, erase=erase_user)
register_subject("calls", "contact", tables=TABLES, export=export_contact, erase=erase_contact)
register_retention(
    "transcripts",
    default_days=DEFAULT_TRANSCRIPT_DAYS,
    max_days=transcripts.MAX_RETENTION_DAYS,
    purge=purge_transcripts,
    on_change=apply_transcript_retention,
    description="Call transcripts, counted from when they finished",
)
