"""API keys: create (secret shown once), list, update, rotate, revoke.

Changing a key someone else created follows ``service.check_may_manage``; refusals
are recorded in the audit log (``api_key.change_refused``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from commbase.core.auth import (
    Client,
    CurrentPrincipal,
)
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppDatabase, AppSettings
from commbase.core.http import shown_once
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.identity.api_keys import service as api_keys
from commbase.identity.api_keys.schemas import (
    ApiKeyCreate,
    ApiKeyRead,
    ApiKeyRotate,
    ApiKeyUpdate,
    ApiKeyWithSecret,
)
from commbase.identity.audit import refusals_recorded
from commbase.identity.enums import ApiKeyStatus

router = APIRouter(prefix="/v1")

# -------------------------------------------------------------- API keys


@router.post(
    "/api-keys",
    response_model=ApiKeyWithSecret,
    status_code=status.HTTP_201_CREATED,
    tags=["api-keys"],
    summary="Create an API key; the secret is in this response only",
)
async def create_api_key(
    body: ApiKeyCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
    settings: AppSettings,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    async with refusals_recorded(session, database, actor=principal, client=client):
        key, secret = await api_keys.create_key(
            session,
            data=body,
            actor=principal,
            client=client,
            secret=settings.secret_key.get_secret_value(),
            tiers=settings.rate_limit_tiers,
        )
    return shown_once(response, ApiKeyWithSecret, ApiKeyRead.model_validate(key), key=secret)


@router.get("/api-keys", response_model=Page[ApiKeyRead], tags=["api-keys"])
async def list_api_keys(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[ApiKeyStatus | None, Query(alias="status")] = None,
) -> Any:
    principal.require(Scope.API_KEYS_READ)
    rows, cursor = await api_keys.list_keys(
        session, org_id=principal.org_id, params=page, status=status_
    )
    return Page(data=[ApiKeyRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api-keys"])
async def get_api_key(key_id: PathId, principal: CurrentPrincipal, session: DbSession) -> Any:
    principal.require(Scope.API_KEYS_READ)
    return await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)


@router.patch("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api-keys"])
async def update_api_key(
    key_id: PathId,
    body: ApiKeyUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
    cache: AppCache,
    settings: AppSettings,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)
    async with refusals_recorded(session, database, actor=principal, client=client):
        return await api_keys.update_key(
            session,
            key=key,
            changes=body,
            actor=principal,
            client=client,
            cache=cache,
            tiers=settings.rate_limit_tiers,
        )


@router.post(
    "/api-keys/{key_id}/rotate",
    response_model=ApiKeyWithSecret,
    tags=["api-keys"],
    summary="Issue a new secret; the old one works until the grace period ends",
)
async def rotate_api_key(
    key_id: PathId,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
    cache: AppCache,
    settings: AppSettings,
    client: Client,
    body: ApiKeyRotate | None = None,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)
    grace = (
        body.grace_period_s
        if body is not None and body.grace_period_s is not None
        else settings.api_key_rotation_grace_s
    )
    async with refusals_recorded(session, database, actor=principal, client=client):
        key, secret = await api_keys.rotate_key(
            session,
            key=key,
            grace_period_s=grace,
            actor=principal,
            client=client,
            cache=cache,
            secret=settings.secret_key.get_secret_value(),
        )
    return shown_once(response, ApiKeyWithSecret, ApiKeyRead.model_validate(key), key=secret)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead, tags=["api-keys"])
async def revoke_api_key(
    key_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
    cache: AppCache,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await api_keys.get_key(session, org_id=principal.org_id, key_id=key_id)
    async with refusals_recorded(session, database, actor=principal, client=client):
        return await api_keys.revoke_key(
            session, key=key, actor=principal, client=client, cache=cache
        )


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api-keys"])
async def delete_api_key(
    key_id: PathId,
    principal: CurrentPrincipal,
    session: DbSession,
    database: AppDatabase,
    cache: AppCache,
    client: Client,
) -> Any:
    """Same as revoke: keys are kept, revoked, for the audit trail."""
    return await revoke_api_key(key_id, principal, session, database, cache, client)
