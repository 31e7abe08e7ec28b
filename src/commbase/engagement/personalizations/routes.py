"""Agent personalizations API (seed 002 ``agentpersonalizations``): the calling user's
own customisations of each agent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from commbase.core.auth import CurrentPrincipal, Principal
from commbase.core.db import DbSession
from commbase.core.errors import PermissionDenied
from commbase.core.pagination import Page, PageQuery
from commbase.core.scopes import Scope
from commbase.core.types import PathId
from commbase.engagement.personalizations import service
from commbase.engagement.personalizations.models import AgentPersonalization
from commbase.engagement.personalizations.schemas import (
    PersonalizationRead,
    PersonalizationSet,
    SavedPromptCreate,
)

router = APIRouter(prefix="/v1/personalizations", tags=["personalizations"])
FULL: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"description": "Too many saved prompts"}
}


def _user(principal: Principal, scope: Scope) -> str:
    principal.require(scope)
    if principal.user_id is None:
        raise PermissionDenied("Personalizations belong to a user; this credential acts for none")
    return principal.user_id


async def _item(
    personalization_id: str, principal: Principal, session: DbSession, scope: Scope
) -> AgentPersonalization:
    user_id = _user(principal, scope)
    return await service.get(
        session, org_id=principal.org_id, user_id=user_id, personalization_id=personalization_id
    )


@router.put("", response_model=PersonalizationRead)
async def set_personalization(
    body: PersonalizationSet, principal: CurrentPrincipal, session: DbSession
) -> AgentPersonalization:
    """Create or update the caller's personalization of ``agent_id`` (``null`` resets a field)."""
    user_id = _user(principal, Scope.ENGAGEMENT_WRITE)
    item, _ = await service.set_personalization(
        session, org_id=principal.org_id, user_id=user_id, data=body
    )
    return item


@router.get("", response_model=Page[PersonalizationRead])
async def list_personalizations(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    agent_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    user_id = _user(principal, Scope.ENGAGEMENT_READ)
    rows, cursor = await service.list_personalizations(
        session, org_id=principal.org_id, user_id=user_id, params=page, agent_id=agent_id
    )
    return Page(data=[PersonalizationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{personalization_id}", response_model=PersonalizationRead)
async def get_personalization(
    personalization_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> AgentPersonalization:
    return await _item(personalization_id, principal, session, Scope.ENGAGEMENT_READ)


@router.delete("/{personalization_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_personalization(
    personalization_id: PathId, principal: CurrentPrincipal, session: DbSession
) -> None:
    item = await _item(personalization_id, principal, session, Scope.ENGAGEMENT_WRITE)
    await service.delete(session, item=item)


@router.post(
    "/{personalization_id}/prompts",
    response_model=PersonalizationRead,
    status_code=status.HTTP_201_CREATED,
    responses=FULL,
)
async def save_prompt(
    personalization_id: PathId,
    body: SavedPromptCreate,
    principal: CurrentPrincipal,
    session: DbSession,
) -> AgentPersonalization:
    item = await _item(personalization_id, principal, session, Scope.ENGAGEMENT_WRITE)
    return await service.save_prompt(session, item=item, data=body)


@router.delete("/{personalization_id}/prompts/{prompt_id}", response_model=PersonalizationRead)
async def delete_prompt(
    personalization_id: PathId,
    prompt_id: Annotated[str, Path(max_length=40)],
    principal: CurrentPrincipal,
    session: DbSession,
) -> AgentPersonalization:
    item = await _item(personalization_id, principal, session, Scope.ENGAGEMENT_WRITE)
    return await service.delete_prompt(session, item=item, prompt_id=prompt_id)
