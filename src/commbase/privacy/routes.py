"""Privacy API: GDPR exports and erasures, retention policies. Thin: authorize, call the service."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from commbase.core.auth import Client, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppCache
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.privacy import retention, service
from commbase.privacy.models import PrivacyRequest
from commbase.privacy.schemas import (
    PrivacyRequestRead,
    RetentionPolicyRead,
    RetentionRead,
    RetentionUpdate,
    SubjectRequest,
)

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
ZIP = "application/zip"


def _read(request: PrivacyRequest) -> PrivacyRequestRead:
    read = PrivacyRequestRead.model_validate(request)
    if request.kind == service.EXPORT and service.downloadable(request):
        read.download_url = f"/v1/privacy/exports/{request.id}/download"
    return read


@router.post("/exports", response_model=PrivacyRequestRead, status_code=status.HTTP_201_CREATED)
async def create_export(
    body: SubjectRequest, principal: CurrentPrincipal, session: DbSession, client: Client
) -> PrivacyRequestRead:
    """Collect every record about a user, a contact or an email address into a zip of JSON files.

    An email subject (``subject_id`` an address, matched case-insensitively) covers what
    website visitors left by that address alone; the request is kept under its ``eml_`` digest.
    """
    principal.require(Scope.PRIVACY_MANAGE)
    request = await service.create_export(
        session,
        principal=principal,
        client=client,
        subject_type=body.subject_type,
        subject_id=body.subject_id,
    )
    return _read(request)


@router.get("/exports/{export_id}", response_model=PrivacyRequestRead)
async def get_export(
    export_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> PrivacyRequestRead:
    principal.require(Scope.PRIVACY_MANAGE)
    request = await service.get_request(
        session, org_id=principal.org_id, kind=service.EXPORT, request_id=export_id
    )
    return _read(request)


@router.get(
    "/exports/{export_id}/download",
    response_class=Response,
    responses={200: {"content": {ZIP: {}}, "description": "One JSON file per kind of record"}},
)
async def download_export(
    export_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Response:
    principal.require(Scope.PRIVACY_MANAGE)
    data = await service.export_file(session, org_id=principal.org_id, request_id=export_id)
    return Response(
        data,
        media_type=ZIP,
        headers={
            "Content-Disposition": f'attachment; filename="{export_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/erasures", response_model=PrivacyRequestRead, status_code=status.HTTP_201_CREATED)
async def create_erasure(
    body: SubjectRequest,
    principal: CurrentPrincipal,
    session: DbSession,
    client: Client,
    cache: AppCache,
) -> PrivacyRequestRead:
    """Delete or anonymise every record about a user, a contact or an email address here."""
    principal.require(Scope.PRIVACY_MANAGE)
    request = await service.erase_subject(
        session,
        principal=principal,
        client=client,
        cache=cache,
        subject_type=body.subject_type,
        subject_id=body.subject_id,
    )
    return _read(request)


@router.get("/erasures/{erasure_id}", response_model=PrivacyRequestRead)
async def get_erasure(
    erasure_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> PrivacyRequestRead:
    principal.require(Scope.PRIVACY_MANAGE)
    request = await service.get_request(
        session, org_id=principal.org_id, kind=service.ERASURE, request_id=erasure_id
    )
    return _read(request)


@router.get("/retention", response_model=RetentionRead)
async def get_retention(principal: CurrentPrincipal, session: DbSession) -> RetentionRead:
    """How long each kind of data is kept for this organization."""
    principal.require(Scope.PRIVACY_MANAGE)
    found = await retention.policies(session, org_id=principal.org_id)
    return RetentionRead(policies=[RetentionPolicyRead(**policy) for policy in found])


@router.put("/retention", response_model=RetentionRead)
async def replace_retention(
    body: RetentionUpdate, principal: CurrentPrincipal, session: DbSession, client: Client
) -> RetentionRead:
    """Set the organization's overrides (days per kind); kinds left out use their default."""
    principal.require(Scope.PRIVACY_MANAGE)
    found = await retention.replace_overrides(
        session, principal=principal, client=client, overrides=body.overrides
    )
    return RetentionRead(policies=[RetentionPolicyRead(**policy) for policy in found])
