"""Retention of the kernel's tables and of export files; privacy requests as personal data.

* ``idempotency_keys``: stored responses, deleted once expired and older than
  the period (default 1 day, the middleware's TTL).
* ``outbox_events``: domain events carry payloads (a callee's number, ids);
  deleted after 90 days once every consumer is done with them.
* ``privacy_exports``: an export's zip is cleared after 7 days, and when its
  subject is erased; the request row stays as the record that it happened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.core.idempotency import IdempotencyKey
from commbase.core.literals import listed
from commbase.core.outbox import OutboxDelivery, OutboxEvent
from commbase.privacy.models import PrivacyRequest
from commbase.privacy.records import as_records
from commbase.privacy.registry import (
    EMAIL_SUBJECT,
    SUBJECT_TYPES,
    RetentionWindow,
    email_reference,
    register_retention,
    register_subject,
)

EXPORT = "export"
# A purge's batch of ids is one list parameter (``core.literals.listed``: one text on
# PostgreSQL whatever the batch's length). A purge loads no rows as ORM objects, so
# there is no session state to keep in step with its statements.
_UNSYNCED = {"synchronize_session": False}


async def purge_idempotency_keys(
    session: AsyncSession, *, window: RetentionWindow, limit: int
) -> int:
    ids = list(
        await session.scalars(
            select(IdempotencyKey.id)
            .where(
                IdempotencyKey.expires_at <= window.now,
                window.older_than(IdempotencyKey.org_id, IdempotencyKey.created_at),
            )
            .order_by(IdempotencyKey.id)
            .limit(limit)
        )
    )
    if ids:
        await session.execute(
            delete(IdempotencyKey).where(listed(IdempotencyKey.id, "ids")),
            {"ids": ids},
            execution_options=_UNSYNCED,
        )
    return len(ids)


async def purge_outbox_events(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    pending = exists().where(
        OutboxDelivery.event_id == OutboxEvent.id, OutboxDelivery.done_at.is_(None)
    )
    ids = list(
        await session.scalars(
            select(OutboxEvent.id)
            .where(window.older_than(OutboxEvent.org_id, OutboxEvent.created_at), ~pending)
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
    )
    if ids:
        for statement in (
            delete(OutboxDelivery).where(listed(OutboxDelivery.event_id, "ids")),
            delete(OutboxEvent).where(listed(OutboxEvent.id, "ids")),
        ):
            await session.execute(statement, {"ids": ids}, execution_options=_UNSYNCED)
    return len(ids)


async def purge_export_files(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    ids = list(
        await session.scalars(
            select(PrivacyRequest.id)
            .where(
                PrivacyRequest.kind == EXPORT,
                PrivacyRequest.file.is_not(None),
                window.older_than(PrivacyRequest.org_id, PrivacyRequest.created_at),
            )
            .order_by(PrivacyRequest.id)
            .limit(limit)
        )
    )
    if ids:
        await session.execute(
            update(PrivacyRequest).where(listed(PrivacyRequest.id, "ids")).values(file=None),
            {"ids": ids},
            execution_options=_UNSYNCED,
        )
    return len(ids)


def _about(org_id: str, subject_id: str) -> Any:
    return (PrivacyRequest.org_id == org_id) & (PrivacyRequest.subject_id == subject_id)


async def export_requests(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Earlier requests about the subject (without their files)."""
    rows = await session.scalars(
        select(PrivacyRequest).where(_about(org_id, subject_id)).order_by(PrivacyRequest.id)
    )
    return {"privacy_requests": as_records(rows, omit=("file",))}


async def erase_export_files(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    """Clear every export file about the subject: a download must not outlive an erasure."""
    result = await session.execute(
        update(PrivacyRequest)
        .where(_about(org_id, subject_id), PrivacyRequest.file.is_not(None))
        .values(file=None)
    )
    return {"privacy_requests": rowcount(result)}


async def export_email_requests(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Earlier requests about the address, kept under its digest."""
    return await export_requests(session, org_id=org_id, subject_id=email_reference(subject_id))


async def erase_email_export_files(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    return await erase_export_files(
        session, org_id=org_id, subject_id=email_reference(subject_id), reference=reference
    )


for _subject_type in SUBJECT_TYPES:
    register_subject(
        "privacy",
        _subject_type,
        tables={"privacy_requests"},
        export=export_requests,
        erase=erase_export_files,
    )
register_subject(
    "privacy",
    EMAIL_SUBJECT,
    tables={"privacy_requests"},
    export=export_email_requests,
    erase=erase_email_export_files,
)
register_retention(
    "idempotency_keys",
    default_days=1,
    max_days=30,
    purge=purge_idempotency_keys,
    per_organization=True,
    description="Idempotency keys and the responses they replay, once expired",
)
register_retention(
    "outbox_events",
    default_days=90,
    purge=purge_outbox_events,
    per_organization=True,
    description="Domain events and their payloads, once every consumer has them",
)
register_retention(
    "privacy_exports",
    default_days=7,
    max_days=90,
    purge=purge_export_files,
    per_organization=True,
    description="Export downloads (the zip; the request's record stays)",
)
