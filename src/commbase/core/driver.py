"""The database driver's own connection under a session, for the few bulk statements
that skip SQLAlchemy's parameter handling (one JSON document split by PostgreSQL, a
COPY): asyncpg is called directly, inside the session's transaction.

A connection lost under such a statement (the server restarted or ended the session,
the network dropped it) is raised as SQLAlchemy's ``OperationalError`` with the
connection invalidated, as it is under any statement sent through the session: the
app answers 503 and workers wait the outage out (``core.db.database_unavailable``),
the session rolls back cleanly and the pool opens a new connection. Other errors (a
constraint, a bad statement) stay the driver's own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from commbase.core import readonly
from commbase.core.db import database_unavailable
from commbase.core.replicas import mark_written


async def driver_of(session: AsyncSession) -> Any:
    """The session's driver connection, its transaction begun. The session's
    transaction begins with its first statement: SQLAlchemy sends one if none went
    yet, or a statement sent to the driver would commit alone and outlive a rollback;
    for the same reason a read request's session (autocommit, ``core.readonly``)
    refuses it, and the request runs again as a writer. The session counts as having
    written (its request reads from the primary from now on, ``core.replicas``):
    SQLAlchemy does not see what is sent to the driver."""
    connection = await session.connection()
    options = (
        connection.sync_connection.get_execution_options() if connection.sync_connection else {}
    )
    if options.get(readonly.REQUEST_READ):
        # Autocommit: each statement would commit alone; the request runs as a writer.
        raise readonly.refused("a statement sent to the driver")
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        await session.execute(select(1))
    mark_written(session)
    return Driver(driver, connection)


class Driver:
    """An asyncpg connection whose coroutine methods (``execute``, ``fetch``,
    ``copy_records_to_table``, ...) raise a lost connection as SQLAlchemy does."""

    __slots__ = ("_connection", "_driver")

    def __init__(self, driver: Any, connection: AsyncConnection) -> None:
        self._driver = driver
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._driver, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        return self._guarded(attribute)

    def _guarded(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except Exception as exc:
                if not (self._driver.is_closed() or database_unavailable(exc)):
                    raise
                statement = args[0] if args and isinstance(args[0], str) else None
                raise await self._lost(exc, statement) from exc

        return call

    async def _lost(self, exc: Exception, statement: str | None) -> sa_exc.OperationalError:
        """``exc`` as SQLAlchemy raises a lost connection; a closed connection is
        invalidated (its transaction is gone: the session rolls back without it)."""
        closed = bool(self._driver.is_closed())
        if closed:
            await self._connection.invalidate(exc)
        dbapi = self._connection.dialect.loaded_dbapi
        orig = dbapi.OperationalError(f"{type(exc).__name__}: {exc}", exc)
        return sa_exc.OperationalError(statement, None, orig, connection_invalidated=closed)
