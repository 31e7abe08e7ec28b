"""Channel accounts API: reading needs ``messages:read``; adding, changing and removing
an account (it holds provider credentials) needs ``org:write``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.deps import AppSettings
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.messaging.accounts import service
from commbase.messaging.accounts.schemas import (
    ChannelAccountCreate,
    ChannelAccountRead,
    ChannelAccountUpdate,
)
from commbase.messaging.enums import ChannelKind

router = APIRouter(prefix="/v1/channel-accounts", tags=["messaging"])

TAKEN: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "description": "Another account uses this phone_number_id or verify_token"
    }
}


@router.post(
    "", response_model=ChannelAccountRead, status_code=status.HTTP_201_CREATED, responses=TAKEN
)
async def create_account(
    body: ChannelAccountCreate,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> ChannelAccountRead:
    """Add a channel account (WhatsApp number, web chat, Telegram, Instagram, email, SMS)."""
    principal.require(Scope.ORG_WRITE)
    account = await service.create_account(
        session,
        org_id=principal.org_id,
        data=body,
        server_secret=settings.secret_key.get_secret_value(),
    )
    return service.read(account)


@router.get("", response_model=Page[ChannelAccountRead])
async def list_accounts(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    kind: ChannelKind | None = None,
) -> Page[ChannelAccountRead]:
    principal.require(Scope.MESSAGES_READ)
    rows, cursor = await service.list_accounts(
        session, org_id=principal.org_id, params=page, kind=kind
    )
    return Page(data=[service.read(row) for row in rows], next_cursor=cursor)


@router.get("/{account_id}", response_model=ChannelAccountRead)
async def get_account(
    account_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> ChannelAccountRead:
    principal.require(Scope.MESSAGES_READ)
    account = await service.get_account(session, org_id=principal.org_id, account_id=account_id)
    return service.read(account)


@router.patch("/{account_id}", response_model=ChannelAccountRead, responses=TAKEN)
async def update_account(
    account_id: PathId,
    body: ChannelAccountUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: AppSettings,
) -> ChannelAccountRead:
    principal.require(Scope.ORG_WRITE)
    account = await service.get_account(session, org_id=principal.org_id, account_id=account_id)
    updated = await service.update_account(
        session,
        account=account,
        changes=body,
        server_secret=settings.secret_key.get_secret_value(),
    )
    return service.read(updated)


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_account(
    account_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> None:
    """Remove the account with its conversations and messages."""
    principal.require(Scope.ORG_WRITE)
    account = await service.get_account(session, org_id=principal.org_id, account_id=account_id)
    await service.delete_account(session, account=account)
