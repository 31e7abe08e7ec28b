"""The database driver's own connection under a session, for the few bulk statements
that skip SQLAlchemy's parameter handling (one JSON document split by PostgreSQL, a
COPY): asyncpg is called directly, inside the session's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def driver_of(session: AsyncSession) -> Any:
    """The session's driver connection, its transaction begun. The session's
    transaction begins with its first statement: SQLAlchemy sends one if none went
    yet, or a statement sent to the driver would commit alone and outlive a rollback.
    Errors raised by the driver reach the caller as the driver's own exceptions."""
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        await session.execute(select(1))
    return driver
