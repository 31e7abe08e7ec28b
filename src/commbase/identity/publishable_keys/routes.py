"""Publishable keys: staff create (key shown once), list, read, update and revoke them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from commbase.core.auth import Client, CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.http import shown_once
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.identity.publishable_keys import service
from commbase.identity.publishable_keys.enums import PublishableKeyStatus
from commbase.identity.publishable_keys.schemas import (
    PublishableKeyCreate,
    PublishableKeyRead,
    PublishableKeyUpdate,
    PublishableKeyWithSecret,
)

router = APIRouter(prefix="/v1/publishable-keys", tags=["publishable-keys"])


@router.post(
    "",
    response_model=PublishableKeyWithSecret,
    status_code=status.HTTP_201_CREATED,
    summary="Create a publishable key for a website's intake forms; shown once",
)
async def create_publishable_key(
    body: PublishableKeyCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key, secret = await service.create_key(
        session,
        data=body,
        actor=principal,
        client=client,
        secret=settings.secret_key.get_secret_value(),
    )
    return shown_once(
        response, PublishableKeyWithSecret, PublishableKeyRead.model_validate(key), key=secret
    )


@router.get("", response_model=Page[PublishableKeyRead])
async def list_publishable_keys(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    status_: Annotated[PublishableKeyStatus | None, Query(alias="status")] = None,
) -> Any:
    principal.require(Scope.API_KEYS_READ)
    rows, cursor = await service.list_keys(
        session, org_id=principal.org_id, params=page, status=status_
    )
    return Page(data=[PublishableKeyRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{publishable_key_id}", response_model=PublishableKeyRead)
async def get_publishable_key(
    publishable_key_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> Any:
    principal.require(Scope.API_KEYS_READ)
    return await service.get_key(session, org_id=principal.org_id, key_id=publishable_key_id)


@router.patch("/{publishable_key_id}", response_model=PublishableKeyRead)
async def update_publishable_key(
    publishable_key_id: PathId,
    body: PublishableKeyUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    client: Client,
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await service.get_key(session, org_id=principal.org_id, key_id=publishable_key_id)
    return await service.update_key(session, key=key, changes=body, actor=principal, client=client)


@router.post("/{publishable_key_id}/revoke", response_model=PublishableKeyRead)
async def revoke_publishable_key(
    publishable_key_id: PathId, principal: CurrentPrincipal, session: DbSession, client: Client
) -> Any:
    principal.require(Scope.API_KEYS_WRITE)
    key = await service.get_key(session, org_id=principal.org_id, key_id=publishable_key_id)
    return await service.revoke_key(session, key=key, actor=principal, client=client)
