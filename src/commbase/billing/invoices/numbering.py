"""Gapless invoice numbers per organization.

The counter row is incremented by one ``UPDATE ... RETURNING`` in the transaction
that finalizes the invoice: concurrent finalizers queue on the row lock
(PostgreSQL) or the database's write lock (SQLite), and a transaction that rolls
back gives its number back, so numbers run 1, 2, 3... without gaps or repeats.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.billing.invoices.models import InvoiceCounter

PREFIX = "INV"


async def next_sequence(session: AsyncSession, *, org_id: str) -> int:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(InvoiceCounter)
        .values(org_id=org_id, last_number=0)
        .on_conflict_do_nothing(index_elements=["org_id"])
    )
    number = await session.scalar(
        update(InvoiceCounter)
        .where(InvoiceCounter.org_id == org_id)
        .values(last_number=InvoiceCounter.last_number + 1)
        .returning(InvoiceCounter.last_number)
    )
    assert number is not None
    return int(number)


def format_number(sequence: int) -> str:
    return f"{PREFIX}-{sequence:06d}"
