"""Contacts who receive no campaign messages (``messaging_opt_outs``).

A contact replying STOP (any case, alone in the message; also STOPALL,
UNSUBSCRIBE, CANCEL, END, QUIT) is opted out; a member may mark one too.
Campaigns (``messaging.campaigns``) skip and count every opted-out contact:
:func:`opted_out_contact_ids` and :func:`opted_out` are how they ask.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import outbox
from commbase.core.db import rowcount
from commbase.core.errors import NotFound
from commbase.core.pagination import PageParams, paginate
from commbase.messaging import events
from commbase.messaging.enums import OptOutSource
from commbase.messaging.models import OptOut

STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})


def is_stop(body: str | None) -> bool:
    return (body or "").strip().strip(".!").casefold() in STOP_WORDS


async def opt_out(
    session: AsyncSession,
    *,
    org_id: str,
    contact_id: str,
    source: OptOutSource,
    account_id: str | None = None,
    message_id: str | None = None,
) -> OptOut:
    """Opt the contact out (once: a second time returns the first row, no new event)."""
    existing = await session.scalar(
        select(OptOut).where(OptOut.org_id == org_id, OptOut.contact_id == contact_id)
    )
    if existing is not None:
        return existing
    row = OptOut(
        org_id=org_id,
        contact_id=contact_id,
        source=source,
        account_id=account_id,
        message_id=message_id,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # Another request opted them out at the same moment.
        again = await session.scalar(
            select(OptOut).where(OptOut.org_id == org_id, OptOut.contact_id == contact_id)
        )
        if again is None:
            raise
        return again
    await outbox.record(
        session,
        events.CONTACT_OPTED_OUT,
        {
            "contact_id": contact_id,
            "source": source,
            "account_id": account_id,
            "message_id": message_id,
        },
        org_id=org_id,
    )
    return row


async def opt_in(session: AsyncSession, *, org_id: str, contact_id: str) -> None:
    """Let the contact receive campaigns again; NotFound if they had not opted out."""
    result = await session.execute(
        delete(OptOut).where(OptOut.org_id == org_id, OptOut.contact_id == contact_id)
    )
    if not rowcount(result):
        raise NotFound("Opt-out not found")


async def opted_out(session: AsyncSession, *, org_id: str, contact_id: str) -> bool:
    found = await session.scalar(
        select(OptOut.id).where(OptOut.org_id == org_id, OptOut.contact_id == contact_id)
    )
    return found is not None


async def opted_out_contact_ids(
    session: AsyncSession, *, org_id: str, contact_ids: Sequence[str] | None = None
) -> set[str]:
    """Which of ``contact_ids`` (all, when None) are opted out."""
    statement = select(OptOut.contact_id).where(OptOut.org_id == org_id)
    if contact_ids is not None:
        statement = statement.where(OptOut.contact_id.in_(list(contact_ids)))
    return set(await session.scalars(statement))


async def list_opt_outs(
    session: AsyncSession, *, org_id: str, params: PageParams
) -> tuple[Sequence[OptOut], str | None]:
    statement = select(OptOut).where(OptOut.org_id == org_id)
    return await paginate(session, statement, id_column=OptOut.id, params=params)
