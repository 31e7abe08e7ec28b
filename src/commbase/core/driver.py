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

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.util import greenlet_spawn

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


@contextlib.asynccontextmanager
async def pooled(engine: AsyncEngine) -> AsyncIterator[Driver]:
    """A pooled connection's driver, outside any transaction: each statement commits
    on its own (PostgreSQL). No SQLAlchemy ``Connection`` (its events, isolation
    level, execution context and result): a conditional ``UPDATE ... RETURNING`` with
    its checkout took 0.5-0.6 ms of CPU through one on the calls bench's machine, 0.2
    ms here. The connection goes back to the pool as any does; one lost under a
    statement is invalidated. SQLAlchemy's statement events do not see what is sent
    here (``DriverStatement`` compiles a statement for it)."""
    dialect = engine.dialect
    try:
        fairy = await engine.raw_connection()
    except dialect.loaded_dbapi.Error as exc:
        # Refused or unreachable, as SQLAlchemy's ``Connection`` raises it: the outage
        # is then told apart (``core.db.database_unavailable``).
        raise sa_exc.DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error) from exc
    try:
        yield Driver(fairy.driver_connection, _Pooled(fairy, dialect))
    except Exception:
        raise
    except BaseException as exc:
        # Cancelled mid-statement: the connection may still be running it; it is not
        # lent out again.
        await greenlet_spawn(fairy.invalidate, exc)
        raise
    finally:
        await greenlet_spawn(fairy.close)


class _Pooled:
    """What ``Driver`` needs of a pooled connection: its dialect, and invalidating it."""

    __slots__ = ("dialect", "fairy")

    def __init__(self, fairy: Any, dialect: Dialect) -> None:
        self.fairy = fairy
        self.dialect = dialect

    async def invalidate(self, exc: BaseException) -> None:
        await greenlet_spawn(self.fairy.invalidate, exc)


class Driver:
    """An asyncpg connection whose coroutine methods (``execute``, ``fetch``,
    ``copy_records_to_table``, ...) raise a lost connection as SQLAlchemy does."""

    __slots__ = ("_connection", "_driver")

    def __init__(self, driver: Any, connection: AsyncConnection | _Pooled) -> None:
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


class DriverStatement:
    """A SQLAlchemy statement compiled once for the driver: its SQL, and its parameters
    by name in the driver's order, each through its type's bind processing (a
    ``UTCDateTime``, a JSON document); its literals are filled in. ``row`` applies the
    returned columns' result processing."""

    __slots__ = ("_fixed", "_order", "_results", "sql")

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        binds = compiled.binds
        self._order = tuple(
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup or ()
        )
        self._fixed = {
            name: bind.effective_value for name, bind in binds.items() if not bind.required
        }
        self._results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.exported_columns
        )

    def arguments(self, parameters: dict[str, Any]) -> list[Any]:
        """The positional arguments for named ``parameters`` (and the literals)."""
        values = {**self._fixed, **parameters}
        return [
            values[name] if process is None else process(values[name])
            for name, process in self._order
        ]

    def row(self, record: Any) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for value, process in zip(record, self._results, strict=True)
        )
