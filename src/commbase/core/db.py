"""SQLAlchemy 2.0 async storage: declarative base, engine, sessions.

SQLite is opened in WAL mode with foreign keys on; every datetime column is
timezone-aware UTC whatever the backend stores.

When the database cannot be reached (connection refused or lost, the server
shutting down or starting, no pooled connection free within ``POOL_TIMEOUT_S``),
``database_unavailable(exc)`` says so: the app answers those failures with 503
``service-unavailable`` and ``Retry-After``, and workers try again
(``retry_while_unavailable``) instead of giving their work up.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, Request
from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from commbase.core import readonly
from commbase.core.ids import new_id
from commbase.core.time import utcnow

log = structlog.get_logger("commbase.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that is always stored and returned as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use commbase.core.time.utcnow()")
        value = value.astimezone(UTC)
        # SQLite has no time zone type: store naive UTC text that sorts correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
SerialBigInt = BigInteger().with_variant(Integer, "sqlite")

# Column info marking personal data: GDPR export and erasure must cover every such column.
PERSONAL: dict[str, Any] = {"personal": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
        list[int]: JSONType,
        list[dict[str, Any]]: JSONType,
    }


def public_id(prefix: str) -> Mapped[str]:
    """A primary key column holding a prefixed sortable id."""
    return mapped_column(String(40), primary_key=True, default=lambda: new_id(prefix))


def created_at_column() -> Mapped[datetime]:
    return mapped_column(default=utcnow, nullable=False)


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(default=utcnow, onupdate=utcnow, nullable=False)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers queue on
        # busy_timeout instead of failing on a read-to-write lock upgrade.
        # A READ_ONLY connection takes no lock: in WAL mode it reads a snapshot
        # while others write (long reads of a CLI job must not stall the server).
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    readonly.guard(engine)


# Execution option of an engine (``engine.execution_options(**{READ_ONLY: True})``)
# whose sessions only read: on SQLite their transactions take no write lock.
READ_ONLY = "commbase_read_only"


# PostgreSQL: how long opening a connection may take, and how long a request waits
# for a pooled connection, before the database counts as unavailable (a 503).
CONNECT_TIMEOUT_S = 5.0
POOL_TIMEOUT_S = 10.0
# PostgreSQL: connections a process may hold (at most 30), each kept open once opened
# (one closed on return is opened again a few requests later: with 20 kept, 2,000
# calls placed by 32 clients opened 137 connections: 74 calls/s, 83 with 30 kept).
POOL_SIZE = 30
POOL_OVERFLOW = 0
# How often (ms) PostgreSQL checks a running statement's client is still there: a dead
# one's statement (waiting for a lock, say: ``calls.gate``) is cancelled, not committed.
CLIENT_CHECK_MS = 250


def _connection_errors_as_dbapi_errors(engine: AsyncEngine) -> None:
    """Make a socket that cannot be opened (refused, unreachable, timed out) a DBAPI
    ``OperationalError``, as every other connection failure is: asyncpg raises the bare
    ``OSError``, which SQLAlchemy would pass on unwrapped."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:
            raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {exc}") from exc


# A pooled connection idle this long is pinged before use (a round trip; a dead one is
# replaced). Every checkout first asks the driver whether the server closed the
# connection (no round trip): a stopped, restarted or terminating server closes its
# connections, and asyncpg notices while they sit in the pool. ``pool_pre_ping``
# instead cost every request three round trips on asyncpg (BEGIN, ping, ROLLBACK) for
# two reads of its own.
IDLE_PING_S = 1.0


def verify_on_checkout(engine: AsyncEngine) -> None:
    """Replace pooled connections the server closed, and ping those idle ``IDLE_PING_S``
    or more (PostgreSQL; instead of ``pool_pre_ping``)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            # The pool drops this connection and checks out another (or a new one).
            raise sa_exc.DisconnectionError("the server closed the pooled connection")
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa_exc.DisconnectionError(f"pooled connection is gone: {exc!r}") from exc


def make_engine(
    database_url: str, *, echo: bool = False, pool_size: int | None = None
) -> AsyncEngine:
    """Create the engine for ``database_url`` with commbase's connection settings."""
    if database_url.startswith("sqlite"):
        sized: dict[str, Any] = {} if pool_size is None else {"pool_size": pool_size}
        engine = create_async_engine(database_url, echo=echo, connect_args={"timeout": 30}, **sized)
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        database_url,
        echo=echo,
        pool_size=POOL_SIZE if pool_size is None else pool_size,
        max_overflow=POOL_OVERFLOW if pool_size is None else pool_size,
        pool_timeout=POOL_TIMEOUT_S,
        # PostgreSQL's default plan cache; analytics reads plan custom (core.plans).
        connect_args={
            "timeout": CONNECT_TIMEOUT_S,
            "server_settings": {"client_connection_check_interval": str(CLIENT_CHECK_MS)},
        },
    )
    _connection_errors_as_dbapi_errors(engine)
    verify_on_checkout(engine)
    readonly.guard(engine)
    return engine


# SQLSTATEs that say the server cannot serve now, not that the statement was wrong:
# class 08 (connection exception), admin/crash shutdown, "cannot connect now" (the
# server is starting or stopping), too many connections.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# SQLite's equivalents: the file cannot be opened, or another writer held the lock
# past busy_timeout.
_SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked")


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot serve right now (connection refused,
    lost or timed out, server shutting down or starting, pool exhausted): trying again
    later may succeed. Errors about the statement or the data (integrity, syntax, a
    value out of range) are not."""
    from_driver = False
    for current in _chain(exc):
        if isinstance(current, sa_exc.TimeoutError):  # no pooled connection came free
            return True
        if isinstance(current, sa_exc.DBAPIError):
            if current.connection_invalidated:
                return True
            from_driver = True
        if isinstance(current, sqlite3.OperationalError):
            return str(current) in _SQLITE_UNAVAILABLE
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        # A socket that failed while connecting (see _connection_errors_as_dbapi_errors);
        # an OSError that no driver error wraps is some other failure.
        if isinstance(current, OSError) and from_driver:
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it was raised from (``raise ... from``), outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        current = current.__cause__
    return found


T = TypeVar("T")


async def retry_while_unavailable(
    operation: Callable[[], Awaitable[T]], *, for_s: float, what: str
) -> T:
    """Run ``operation`` (a unit of work in transactions of its own), again and again
    while the database is unavailable, for at most ``for_s`` seconds; then its error
    is raised. Any other error is raised at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + for_s
    delay = 0.25
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not database_unavailable(exc) or loop.time() + delay > deadline:
                raise
            log.warning("database unavailable, trying again", what=what, error=repr(exc))
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "commbase.after_commit"


_AFTER_ROLLBACK = "commbase.after_rollback"


async def _run(callbacks: list[AfterCommit], what: str) -> None:
    for callback in callbacks:
        try:
            await callback()
        except Exception as exc:  # the transaction's outcome stands; this is best effort
            log.warning(f"{what} callback failed", error=repr(exc))


class Session(AsyncSession):
    """An ``AsyncSession`` that runs work registered with ``after_commit`` once its
    transaction has committed (forgetting it when the transaction rolls back), and work
    registered with ``after_rollback`` once it has rolled back, failed to commit or
    been closed uncommitted (forgetting it when it commits)."""

    async def commit(self) -> None:
        try:
            await super().commit()
        except BaseException:
            self.info.pop(_AFTER_COMMIT, None)
            await _run(self.info.pop(_AFTER_ROLLBACK, []), "after-rollback")
            raise
        self.info.pop(_AFTER_ROLLBACK, None)
        await _run(self.info.pop(_AFTER_COMMIT, []), "after-commit")

    async def rollback(self) -> None:
        self.info.pop(_AFTER_COMMIT, None)
        await super().rollback()
        await _run(self.info.pop(_AFTER_ROLLBACK, []), "after-rollback")

    async def close(self) -> None:
        self.info.pop(_AFTER_COMMIT, None)
        await super().close()
        await _run(self.info.pop(_AFTER_ROLLBACK, []), "after-rollback")


def after_commit(session: AsyncSession, callback: AfterCommit, *, once: bool = False) -> None:
    """Run ``callback`` after ``session``'s transaction commits; never if it rolls back.

    For effects in this process or a shared cache (dropping cached credentials)
    that must not happen before the change is visible to others. Effects that
    must survive a crash go through the outbox instead. With ``once``, a callback
    already registered for this transaction is not added again.
    """
    if not isinstance(session, Session):
        raise TypeError("after_commit needs a session from commbase.core.db.Database")
    pending: list[AfterCommit] = session.info.setdefault(_AFTER_COMMIT, [])
    if not (once and callback in pending):
        pending.append(callback)


def after_rollback(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` if ``session``'s transaction does not commit: it rolls back, its
    commit fails, or the session closes without committing; never once it commits.

    For undoing what a transaction did outside the database before knowing its outcome
    (a file written to disk for a row being inserted). A savepoint's rollback alone does
    not run it: the outer transaction may still commit.
    """
    if not isinstance(session, Session):
        raise TypeError("after_rollback needs a session from commbase.core.db.Database")
    session.info.setdefault(_AFTER_ROLLBACK, []).append(callback)


def rowcount(result: Any) -> int:
    """How many rows an UPDATE or DELETE changed (0 where the driver does not say)."""
    return int(getattr(result, "rowcount", 0) or 0)


class Database:
    """An engine and its session factory."""

    def __init__(self, database_url: str, *, echo: bool = False) -> None:
        self.url = database_url
        self.engine = make_engine(database_url, echo=echo)
        self.sessionmaker = async_sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        # Read requests' sessions: deferred on SQLite, autocommit on PostgreSQL
        # (``core.readonly``).
        reads: dict[str, Any] = {readonly.REQUEST_READ: True}
        self._readers: AsyncEngine | None = None
        if self.dialect == "sqlite":
            reads[READ_ONLY] = True
            if _on_disk(database_url):
                # Connections of their own: a writer waiting for SQLite's write lock
                # (``BEGIN IMMEDIATE``, up to busy_timeout) holds its pooled connection
                # all the while, and read requests must not wait for those. As many kept
                # open as on PostgreSQL: opening one (a thread, the file, four PRAGMAs)
                # in the middle of a burst of reads delayed them.
                self._readers = make_engine(database_url, echo=echo, pool_size=POOL_SIZE)
        else:
            reads["isolation_level"] = "AUTOCOMMIT"
        self.read_request_engine = (self._readers or self.engine).execution_options(**reads)
        self._own_engine: AsyncEngine | None = None
        self._own_sessions: async_sessionmaker[Session] | None = None

    def own_pool(self) -> async_sessionmaker[Session]:
        """Sessions from a small pool of their own, made on first use and disposed with
        the database: for work that request sessions wait for while holding their
        connections (a wallet's group commit), which must never wait for a connection
        those requests hold."""
        if self._own_sessions is None:
            self._own_engine = make_engine(self.url, pool_size=4)
            self._own_sessions = async_sessionmaker(
                self._own_engine, class_=Session, expire_on_commit=False
            )
        return self._own_sessions

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._readers is not None:
            await self._readers.dispose()
        if self._own_engine is not None:
            await self._own_engine.dispose()


def _on_disk(database_url: str) -> bool:
    """A SQLite URL naming a file (an in-memory database is one per connection)."""
    path = database_url.split("://", 1)[-1]
    return path not in ("", "/", "/:memory:") and "mode=memory" not in path


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the endpoint returns normally. On
    SQLite a read request's begins deferred, on PostgreSQL it runs in autocommit
    (``core.readonly``)."""
    database: Database = request.app.state.db
    options = {"bind": database.read_request_engine} if readonly.reads_only(request.scope) else {}
    async with database.sessionmaker(**options) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": commit before the response is sent, so a failed commit is a 500.
DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]


def json_array_contains(column: Any, value: str, *, dialect: str) -> Any:
    """A WHERE clause: the JSON array in ``column`` holds the string ``value``."""
    from sqlalchemy import exists, func, literal_column, select, type_coerce

    if dialect == "postgresql":
        # The column's comparator is JSON's; JSONB's gives the @> containment operator.
        return type_coerce(column, JSONB).contains([value])
    items = func.json_each(column).table_valued("value")
    return exists(select(literal_column("1")).select_from(items).where(items.c.value == value))
