"""Service-level targets API: ``GET``/``PUT /v1/support/sla-targets``."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.auth import CurrentPrincipal
from commbase.core.db import DbSession
from commbase.core.scopes import Scope
from commbase.engagement.support import sla
from commbase.engagement.support.enums import TicketPriority
from commbase.engagement.support.sla_schemas import (
    PriorityTargetsRead,
    SlaTargetsRead,
    SlaTargetsUpdate,
)

router = APIRouter(prefix="/v1/support/sla-targets", tags=["support"])


async def _read(session: AsyncSession, org_id: str) -> SlaTargetsRead:
    targets, own = await sla.targets_of(session, org_id=org_id)
    return SlaTargetsRead(
        targets=[
            PriorityTargetsRead(
                priority=priority,
                first_response_minutes=int(targets[priority][0].total_seconds() // 60),
                resolution_minutes=int(targets[priority][1].total_seconds() // 60),
                default=priority not in own,
            )
            for priority in TicketPriority
        ]
    )


@router.get("", response_model=SlaTargetsRead)
async def get_sla_targets(principal: CurrentPrincipal, session: DbSession) -> SlaTargetsRead:
    """First-response and resolution targets for each priority (the organization's own,
    or the defaults)."""
    principal.require(Scope.ENGAGEMENT_READ)
    return await _read(session, principal.org_id)


@router.put("", response_model=SlaTargetsRead)
async def put_sla_targets(
    body: SlaTargetsUpdate, principal: CurrentPrincipal, session: DbSession
) -> SlaTargetsRead:
    """Replace the organization's targets; they apply to tickets opened (or given a new
    priority) from now on. ``ticket.sla_breached`` follows each ticket's due dates."""
    principal.require(Scope.ENGAGEMENT_WRITE)
    await sla.replace_targets(
        session,
        org_id=principal.org_id,
        targets={
            t.priority: (t.first_response_minutes, t.resolution_minutes) for t in body.targets
        },
    )
    return await _read(session, principal.org_id)
