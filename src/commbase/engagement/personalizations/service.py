"""Agent personalizations: one per user and agent; set, read, list, reset; saved prompts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.errors import Conflict, NotFound
from commbase.core.ids import new_id
from commbase.core.pagination import PageParams, paginate
from commbase.core.time import utcnow
from commbase.engagement.personalizations import events
from commbase.engagement.personalizations.models import AgentPersonalization
from commbase.engagement.personalizations.schemas import (
    MAX_PROMPTS,
    PersonalizationSet,
    SavedPromptCreate,
)


def _payload(item: AgentPersonalization) -> dict[str, Any]:
    return {"id": item.id, "user_id": item.user_id, "agent_id": item.agent_id}


async def _find(
    session: AsyncSession, *, org_id: str, user_id: str, agent_id: str
) -> AgentPersonalization | None:
    return await session.scalar(
        select(AgentPersonalization).where(
            AgentPersonalization.org_id == org_id,
            AgentPersonalization.user_id == user_id,
            AgentPersonalization.agent_id == agent_id,
        )
    )


async def set_personalization(
    session: AsyncSession, *, org_id: str, user_id: str, data: PersonalizationSet
) -> tuple[AgentPersonalization, bool]:
    """Create or update the user's personalization of the agent; (it, created)."""
    item = await _find(session, org_id=org_id, user_id=user_id, agent_id=data.agent_id)
    created = item is None
    if item is None:
        item = AgentPersonalization(
            org_id=org_id, user_id=user_id, agent_id=data.agent_id, saved_prompts=[]
        )
    changes = data.model_dump(exclude_unset=True, exclude={"agent_id"})
    for field, value in changes.items():
        setattr(item, field, value if value is not None or field == "custom_instructions" else {})
    try:
        async with session.begin_nested():
            session.add(item)
            await session.flush()
    except IntegrityError as exc:  # the same agent, personalised at the same moment
        raise Conflict("The agent was personalised concurrently; send it again") from exc
    await outbox.record(session, events.PERSONALIZATION_SAVED, _payload(item), org_id=org_id)
    return item, created


async def get(
    session: AsyncSession, *, org_id: str, user_id: str, personalization_id: str
) -> AgentPersonalization:
    item = await session.scalar(
        select(AgentPersonalization).where(
            AgentPersonalization.org_id == org_id,
            AgentPersonalization.user_id == user_id,
            AgentPersonalization.id == personalization_id,
        )
    )
    if item is None:
        raise NotFound("Personalization not found")
    return item


async def list_personalizations(
    session: AsyncSession,
    *,
    org_id: str,
    user_id: str,
    params: PageParams,
    agent_id: str | None = None,
) -> tuple[Sequence[AgentPersonalization], str | None]:
    statement = select(AgentPersonalization).where(
        AgentPersonalization.org_id == org_id, AgentPersonalization.user_id == user_id
    )
    if agent_id is not None:
        statement = statement.where(AgentPersonalization.agent_id == agent_id)
    return await paginate(session, statement, id_column=AgentPersonalization.id, params=params)


async def delete(session: AsyncSession, *, item: AgentPersonalization) -> None:
    await outbox.record(session, events.PERSONALIZATION_DELETED, _payload(item), org_id=item.org_id)
    await session.delete(item)
    await session.flush()


async def save_prompt(
    session: AsyncSession, *, item: AgentPersonalization, data: SavedPromptCreate
) -> AgentPersonalization:
    if len(item.saved_prompts) >= MAX_PROMPTS:
        raise Conflict(f"At most {MAX_PROMPTS} saved prompts; delete one first")
    prompt = {
        "id": new_id("spr"),
        "title": data.title,
        "prompt": data.prompt,
        "created_at": utcnow().isoformat(),
    }
    item.saved_prompts = [*item.saved_prompts, prompt]  # a new list: the JSON column changes
    await session.flush()
    await outbox.record(session, events.PERSONALIZATION_SAVED, _payload(item), org_id=item.org_id)
    return item


async def delete_prompt(
    session: AsyncSession, *, item: AgentPersonalization, prompt_id: str
) -> AgentPersonalization:
    kept = [p for p in item.saved_prompts if p.get("id") != prompt_id]
    if len(kept) == len(item.saved_prompts):
        raise NotFound("Saved prompt not found")
    item.saved_prompts = kept
    await session.flush()
    await outbox.record(session, events.PERSONALIZATION_SAVED, _payload(item), org_id=item.org_id)
    return item
