"""API shapes for agent personalizations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import JsonObject

AgentId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Instructions = Annotated[str, StringConstraints(max_length=20_000)]
MAX_PROMPTS = 100


class PersonalizationSet(AppSchema):
    """Create or replace the caller's personalization of ``agent_id``; fields left
    out keep their stored values."""

    agent_id: AgentId
    display: JsonObject | None = None
    behavior: JsonObject | None = None
    custom_instructions: Instructions | None = None


class SavedPromptCreate(AppSchema):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class SavedPrompt(ReadSchema):
    id: str
    title: str
    prompt: str
    created_at: datetime


class PersonalizationRead(ReadSchema):
    id: str
    user_id: str
    agent_id: str
    display: dict[str, Any]
    behavior: dict[str, Any]
    custom_instructions: str | None
    saved_prompts: list[SavedPrompt] = Field(description=f"At most {MAX_PROMPTS}")
    created_at: datetime
    updated_at: datetime
