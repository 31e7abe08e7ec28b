"""GDPR requests: export everything about a user, a contact or an email address
(a website visitor known by nothing else), or erase it, within the caller's
organization, through every domain's registered handlers.

Both run synchronously inside the request's transaction: an erasure either
happens everywhere or nowhere. Each is kept as a ``privacy_requests`` row and
audited; an export's zip is kept for the ``privacy_exports`` retention period.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.contacts import service as contacts_service
from commbase.core.auth import Principal
from commbase.core.cache import Cache
from commbase.core.errors import Conflict, NotFound
from commbase.core.http import ClientInfo
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.identity import audit
from commbase.identity import privacy as identity_privacy
from commbase.identity import service as identity_service
from commbase.privacy import domains as _domains  # noqa: F401  (fills the registry)
from commbase.privacy import retention
from commbase.privacy.models import PrivacyRequest
from commbase.privacy.registry import SubjectType, email_reference, subject_handlers

EXPORT, ERASURE = "export", "erasure"


async def _require_subject(
    session: AsyncSession, *, org_id: str, subject_type: SubjectType, subject_id: str
) -> None:
    """NotFound unless the subject exists in the organization (another's is unknown here).

    An email address always exists: a visitor who left nothing gets an empty export.
    """
    if subject_type == "user":
        await identity_service.get_member_user(session, org_id=org_id, user_id=subject_id)
    elif subject_type == "contact":
        await contacts_service.get_contact(session, org_id=org_id, contact_id=subject_id)


def _kept_as(subject_type: SubjectType, subject_id: str) -> str:
    """The id a request row and its audit entry name: an address only by its digest."""
    return email_reference(subject_id) if subject_type == "email" else subject_id


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form in an export")


def build_zip(files: dict[str, list[dict[str, Any]]], manifest: dict[str, Any]) -> bytes:
    """A zip of ``<name>.json`` per file, plus ``manifest.json``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, rows in {"manifest": manifest, **files}.items():
            text = json.dumps(rows, default=_json_value, indent=2, ensure_ascii=False)
            archive.writestr(f"{name}.json", text)
    return buffer.getvalue()


async def create_export(
    session: AsyncSession,
    *,
    principal: Principal,
    client: ClientInfo,
    subject_type: SubjectType,
    subject_id: str,
) -> PrivacyRequest:
    """Collect every domain's records about the subject into a zip kept for download."""
    org_id = principal.org_id
    await _require_subject(session, org_id=org_id, subject_type=subject_type, subject_id=subject_id)
    files: dict[str, list[dict[str, Any]]] = {}
    for handler in subject_handlers(subject_type):
        part = await handler.export(session, org_id=org_id, subject_id=subject_id)
        for name, rows in part.items():
            files.setdefault(name, []).extend(rows)
    now = utcnow()
    counts = {name: len(rows) for name, rows in sorted(files.items())}
    request = PrivacyRequest(
        id=new_id("prv"),
        org_id=org_id,
        kind=EXPORT,
        subject_type=subject_type,
        subject_id=_kept_as(subject_type, subject_id),
        status="completed",
        requested_by=principal.actor_id,
        counts=counts,
        created_at=now,
        completed_at=now,
    )
    days = await retention.days_for(session, org_id=org_id, kind="privacy_exports")
    request.expires_at = now + timedelta(days=days)
    manifest = {
        "request_id": request.id,
        "organization_id": org_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "generated_at": now,
        "files": {f"{name}.json": count for name, count in counts.items()},
    }
    request.file = build_zip(dict(sorted(files.items())), manifest)
    session.add(request)
    await audit.record(
        session,
        org_id=org_id,
        action="privacy.export_created",
        actor=principal,
        target_type=subject_type,
        target_id=_kept_as(subject_type, subject_id),
        client=client,
        details={"request_id": request.id, "counts": counts},
    )
    return request


async def erase_subject(
    session: AsyncSession,
    *,
    principal: Principal,
    client: ClientInfo,
    cache: Cache,
    subject_type: SubjectType,
    subject_id: str,
) -> PrivacyRequest:
    """Delete or anonymise everything about the subject in the caller's organization."""
    org_id = principal.org_id
    await _require_subject(session, org_id=org_id, subject_type=subject_type, subject_id=subject_id)
    if subject_type == "user":
        if await identity_privacy.is_last_owner(session, org_id=org_id, user_id=subject_id):
            raise Conflict("An organization keeps at least one owner; make another owner first")
        await identity_privacy.forget_credentials(
            session, cache=cache, org_id=org_id, user_id=subject_id
        )
    reference = new_id("anon")
    counts: dict[str, int] = {}
    for handler in subject_handlers(subject_type):
        changed = await handler.erase(
            session, org_id=org_id, subject_id=subject_id, reference=reference
        )
        for table, count in changed.items():
            counts[table] = counts.get(table, 0) + count
    now = utcnow()
    request = PrivacyRequest(
        id=new_id("prv"),
        org_id=org_id,
        kind=ERASURE,
        subject_type=subject_type,
        subject_id=_kept_as(subject_type, subject_id),
        status="completed",
        requested_by=principal.actor_id,
        counts=dict(sorted(counts.items())),
        created_at=now,
        completed_at=now,
    )
    session.add(request)
    await audit.record(
        session,
        org_id=org_id,
        action="privacy.erasure_completed",
        actor=principal,
        target_type=subject_type,
        target_id=_kept_as(subject_type, subject_id),
        # Someone erasing themselves leaves no fresh address behind.
        client=None if principal.user_id == subject_id else client,
        details={"request_id": request.id, "counts": request.counts},
    )
    return request


async def get_request(
    session: AsyncSession, *, org_id: str, kind: str, request_id: str
) -> PrivacyRequest:
    request = await session.scalar(
        select(PrivacyRequest).where(
            PrivacyRequest.org_id == org_id,
            PrivacyRequest.kind == kind,
            PrivacyRequest.id == request_id,
        )
    )
    if request is None:
        raise NotFound(f"{kind.capitalize()} not found")
    return request


def downloadable(request: PrivacyRequest) -> bool:
    return request.file is not None and (
        request.expires_at is None or request.expires_at > utcnow()
    )


async def export_file(session: AsyncSession, *, org_id: str, request_id: str) -> bytes:
    """The export's zip while it is kept; NotFound once expired or its subject erased."""
    request = await get_request(session, org_id=org_id, kind=EXPORT, request_id=request_id)
    if not downloadable(request) or request.file is None:
        raise NotFound("This export's file has expired or its subject was erased; export again")
    return request.file
