"""Personalizations' part in GDPR requests: a user's personalizations are exported
with them and deleted when they are erased. They name no contact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.engagement.personalizations.models import AgentPersonalization
from commbase.privacy.records import as_records
from commbase.privacy.registry import register_subject


async def export_user(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    rows = await session.scalars(
        select(AgentPersonalization)
        .where(AgentPersonalization.org_id == org_id, AgentPersonalization.user_id == subject_id)
        .order_by(AgentPersonalization.id)
    )
    return {"agent_personalizations": as_records(rows)}


async def erase_user(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    result = await session.execute(
        delete(AgentPersonalization).where(
            AgentPersonalization.org_id == org_id, AgentPersonalization.user_id == subject_id
        )
    )
    return {"agent_personalizations": rowcount(result)}


register_subject(
    "engagement.personalizations",
    "user",
    tables={"agent_personalizations"},
    export=export_user,
    erase=erase_user,
    order=300,
)
