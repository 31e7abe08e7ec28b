"""Privacy mode: a private call's personal data is erased as soon as it ends.

The call row, its provider reports, actions and transcript are deleted; the
ledger entry that charged for it stays, pointing at an anonymous reference, so
no money record is lost.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.billing import service as billing_service
from commbase.calls.metrics import CALLS
from commbase.calls.models import Call, CallAction, CallEvent
from commbase.calls.transcripts import service as transcripts
from commbase.core.time import utcnow
from commbase.tracking import service as tracking_service


async def erase_call(session: AsyncSession, *, call: Call) -> str:
    """Erase a finished private call; returns the ledger's anonymous reference."""
    reference = await billing_service.anonymise_call_reference(
        session, org_id=call.org_id, call_id=call.id
    )
    await transcripts.erase_for_call(session, org_id=call.org_id, call_id=call.id)
    await tracking_service.erase_events_for_call(session, org_id=call.org_id, call_id=call.id)
    await session.execute(delete(CallEvent).where(CallEvent.call_id == call.id))
    await session.execute(delete(CallAction).where(CallAction.call_id == call.id))
    call.erased_at = utcnow()
    # The call stops counting in analytics, now and after the next fold.
    await touches.touch(session, org_id=call.org_id, source=CALLS, times=[call.created_at])
    await session.delete(call)
    await session.flush()
    return reference
