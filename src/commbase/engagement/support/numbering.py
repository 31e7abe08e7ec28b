"""Ticket numbers: 1, 2, 3... per organization, unique and without gaps.

The number comes from the organization's row in ``support_ticket_counters``,
incremented by an ``UPDATE ... RETURNING`` in the transaction that creates the
ticket. The update locks the row until that transaction ends, so concurrent
creations take turns (PostgreSQL row lock; SQLite's single writer), and a
transaction that rolls back gives its number back with it: no gaps, no duplicates.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.engagement.support.models import TicketCounter


async def next_number(session: AsyncSession, *, org_id: str) -> int:
    """The next ticket number of ``org_id``, reserved in the caller's transaction."""
    bump = (
        update(TicketCounter)
        .where(TicketCounter.org_id == org_id)
        .values(last_number=TicketCounter.last_number + 1)
        .returning(TicketCounter.last_number)
    )
    number = await session.scalar(bump)
    if number is None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(TicketCounter)
            .values(org_id=org_id, last_number=0)
            .on_conflict_do_nothing(index_elements=["org_id"])
        )
        number = await session.scalar(bump)
    assert number is not None
    return int(number)
