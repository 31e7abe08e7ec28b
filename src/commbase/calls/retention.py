"""An agent session's ``data_retention`` consent, applied to its calls.

A call placed by an agent session carries the session's consent
(``calls.data_retention``) and, where it limits retention, the moment its personal
data expires (``calls.personal_data_expires_at``):

* ``session_only``: when the session ends. Set to the session's expiry when the
  call is placed, and brought forward to now when the session is terminated.
* ``30_days``: 30 days after the call ended (set when it ends).
* ``permanent``: no expiry of its own; the organization's retention settings and
  GDPR requests still apply.

Once that moment has passed and the call has ended, its personal data is erased as
a GDPR erasure does it (``calls.privacy``): numbers, caller name, recording URL,
metadata, analysis and review comment are emptied, its transcript, provider
reports and in-call actions deleted, and ``erased_at`` set. The call itself stays:
it was billed and it counts in analytics.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls import privacy
from commbase.calls.enums import FINAL_STATUSES
from commbase.calls.models import Call
from commbase.core.effects import EffectContext, effect
from commbase.core.outbox import ClaimedEvent
from commbase.core.time import utcnow
from commbase.identity import events as identity_events
from commbase.identity.enums import DataRetention

BATCH = 500
SESSION_ENDED_CONSUMER = "calls.session_ended"


async def erase_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int = BATCH,
    org_id: str | None = None,
    agent_session_id: str | None = None,
) -> int:
    """Erase the personal data of up to ``limit`` ended calls whose retention has run
    out by ``now`` (of one organization, or one agent session, if given); returns how
    many calls were erased."""
    statement = (
        select(Call.org_id, Call.id)
        .where(
            Call.personal_data_expires_at <= now,
            Call.erased_at.is_(None),
            Call.status.in_(FINAL_STATUSES),
        )
        .order_by(Call.personal_data_expires_at, Call.id)
        .limit(limit)
    )
    if org_id is not None:
        statement = statement.where(Call.org_id == org_id)
    if agent_session_id is not None:
        statement = statement.where(Call.agent_session_id == agent_session_id)
    by_org: dict[str, list[str]] = {}
    for org_id, call_id in (await session.execute(statement)).all():
        by_org.setdefault(org_id, []).append(call_id)
    for org_id, call_ids in by_org.items():
        await privacy.erase_personal_data(session, org_id=org_id, call_ids=call_ids)
    return sum(len(ids) for ids in by_org.values())


async def end_session(session: AsyncSession, *, org_id: str, agent_session_id: str) -> int:
    """The session has ended: its ``session_only`` calls' data expires now; erase what
    has ended (calls still in progress follow when they end). Returns calls erased."""
    now = utcnow()
    await session.execute(
        update(Call)
        .where(
            Call.org_id == org_id,
            Call.agent_session_id == agent_session_id,
            Call.data_retention == DataRetention.SESSION_ONLY,
            Call.erased_at.is_(None),
        )
        .values(personal_data_expires_at=now)
        .execution_options(synchronize_session=False)
    )
    erased = 0
    while batch := await erase_due(
        session, now=now, org_id=org_id, agent_session_id=agent_session_id
    ):
        erased += batch
    return erased


@effect(SESSION_ENDED_CONSUMER, event_types=[identity_events.AGENT_SESSION_TERMINATED])
async def on_session_terminated(ctx: EffectContext, event: ClaimedEvent) -> None:
    """A terminated agent session's ``session_only`` calls lose their personal data."""
    async with ctx.database.sessionmaker() as session:
        await end_session(session, org_id=event.org_id, agent_session_id=str(event.payload["id"]))
        await session.commit()
