"""A writing request's reads before its first write (``core.readonly.read_first``): on
PostgreSQL they run in autocommit, its writes and row locks are refused until it
commits, and its next statement then begins an ordinary transaction; on SQLite
nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import readonly
from commbase.core.db import Database
from commbase.identity.models import Organization

# now() is when the transaction began: two statements 20 ms apart see one now() if a
# transaction spans them, two in autocommit.
_NOW = text("SELECT now()")
_WAIT = text("SELECT pg_sleep(0.02)")
_ROW_LOCKS = (
    select(Organization.id).with_for_update(),
    select(Organization.id).with_for_update(key_share=True),  # FOR NO KEY UPDATE
    select(Organization.id).with_for_update(read=True),  # FOR SHARE
    select(Organization.id).with_for_update(read=True, key_share=True),  # FOR KEY SHARE
)


async def _one_transaction(session: AsyncSession) -> bool:
    first = await session.scalar(_NOW)
    await session.execute(_WAIT)
    return bool(first == await session.scalar(_NOW))


async def _organizations(database: Database, name: str) -> int:
    async with database.sessionmaker() as session:
        found = await session.scalar(
            select(func.count()).select_from(Organization).where(Organization.name == name)
        )
    return int(found or 0)


def _organization(name: str) -> Organization:
    return Organization(name=name, slug=name.lower().replace(" ", "-"))


async def test_reads_run_alone_and_a_write_is_refused_until_the_session_commits(
    database: Database, stack: str
) -> None:
    if stack != "postgresql":
        pytest.skip("SQLite's transactions are this module's other case")
    async with database.sessionmaker() as session:
        assert await readonly.read_first(session)
        assert not await _one_transaction(session)

        session.add(_organization("Read First Refused"))
        with pytest.raises(readonly.WriteInReadRequest):
            await session.flush()  # refused before it reached the database
        await session.rollback()
        assert await _organizations(database, "Read First Refused") == 0

        # A row lock would end with its statement: every strength is refused too.
        assert await readonly.read_first(session)
        for locking in _ROW_LOCKS:
            with pytest.raises(readonly.WriteInReadRequest):
                await session.execute(locking)
        await session.rollback()

        assert await readonly.read_first(session)
        await session.execute(_WAIT)
        await session.commit()  # the reads end; the next statement begins a transaction
        assert await _one_transaction(session)
        session.add(_organization("Read First Undone"))
        await session.flush()
        await session.rollback()
    assert await _organizations(database, "Read First Undone") == 0


async def test_a_begun_session_changes_waiting_and_sqlite_are_left_as_they_are(
    database: Database, stack: str
) -> None:
    async with database.sessionmaker() as session:
        session.add(_organization("Read First Waiting"))
        assert not await readonly.read_first(session)  # its INSERT waits for a flush
        await session.flush()
        await session.rollback()
    assert await _organizations(database, "Read First Waiting") == 0

    async with database.sessionmaker() as session:
        await session.execute(text("SELECT 1"))
        assert not await readonly.read_first(session)  # begun already
        session.add(_organization("Read First Begun"))
        await session.flush()
        await session.rollback()
    assert await _organizations(database, "Read First Begun") == 0

    async with database.sessionmaker() as session:
        assert await readonly.read_first(session) is (stack == "postgresql")
        if stack == "sqlite":  # an ordinary transaction: its write is undone
            session.add(_organization("Read First SQLite"))
            await session.flush()
            await session.rollback()
    assert await _organizations(database, "Read First SQLite") == 0
