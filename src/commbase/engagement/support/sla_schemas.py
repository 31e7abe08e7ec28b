"""API shapes for an organization's service-level targets."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from commbase.core.schemas import AppSchema
from commbase.engagement.support.enums import TicketPriority

Minutes = Annotated[int, Field(ge=1, le=366 * 24 * 60, description="Minutes from opening")]


class PriorityTargets(AppSchema):
    priority: TicketPriority
    first_response_minutes: Minutes
    resolution_minutes: Minutes

    @model_validator(mode="after")
    def _resolution_after_first_response(self) -> Self:
        if self.resolution_minutes < self.first_response_minutes:
            raise ValueError("resolution_minutes is at least first_response_minutes")
        return self


class SlaTargetsUpdate(AppSchema):
    """The organization's targets; a priority left out goes back to the default."""

    targets: list[PriorityTargets] = Field(max_length=len(TicketPriority))

    @model_validator(mode="after")
    def _one_per_priority(self) -> Self:
        priorities = [t.priority for t in self.targets]
        if len(set(priorities)) != len(priorities):
            raise ValueError("each priority is given once")
        return self


class PriorityTargetsRead(PriorityTargets):
    default: bool = Field(description="True when the organization has not set this one")


class SlaTargetsRead(AppSchema):
    targets: list[PriorityTargetsRead]
