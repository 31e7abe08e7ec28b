"""``lead.follow_up_due``: announced once per follow-up date, when it has come.

An open lead (pending or contacted) whose ``follow_up_at`` has passed is stamped
with ``follow_up_due_at`` and its event recorded in the same transaction; a new
follow-up date clears the stamp. The UPDATE stamps only rows still unstamped,
so overlapping runs cannot both announce one date.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import rowcount
from commbase.engagement.leads import events
from commbase.engagement.leads.enums import OPEN
from commbase.engagement.leads.models import Lead

BATCH = 200


async def announce_due(
    session: AsyncSession, *, now: dt.datetime, org_id: str | None = None
) -> int:
    """Announce up to ``BATCH`` due follow-ups; returns how many."""
    statement = select(Lead).where(
        Lead.follow_up_status.in_(OPEN),
        Lead.follow_up_due_at.is_(None),
        Lead.follow_up_at <= now,
    )
    if org_id is not None:
        statement = statement.where(Lead.org_id == org_id)
    due = (await session.scalars(statement.order_by(Lead.follow_up_at).limit(BATCH))).all()
    announced = 0
    for lead in due:
        stamped = await session.execute(
            update(Lead)
            .where(Lead.id == lead.id, Lead.follow_up_due_at.is_(None))
            .values(follow_up_due_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(stamped) != 1 or lead.follow_up_at is None:
            continue
        await outbox.record(
            session,
            events.LEAD_FOLLOW_UP_DUE,
            {
                "id": lead.id,
                "score": lead.score,
                "priority": lead.priority,
                "follow_up_status": lead.follow_up_status,
                "follow_up_at": lead.follow_up_at.isoformat(),
                "contact_id": lead.contact_id,
                "conversation_id": lead.conversation_id,
            },
            org_id=lead.org_id,
        )
        announced += 1
    return announced
