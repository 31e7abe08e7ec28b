"""Read requests (GET, HEAD) read without a write transaction.

SQLite: every transaction of commbase begins ``IMMEDIATE`` (``core.db``), so two
writers queue on ``busy_timeout`` instead of failing on a lock upgrade. A read
request's session begins a deferred transaction instead: in WAL mode it reads a
snapshot while writers commit, and never queues behind them.

PostgreSQL: a read request's session runs in autocommit, so its reads cost no
``BEGIN`` and ``COMMIT`` round trips. Under READ COMMITTED each statement sees its
own snapshot either way, so the reads see what they saw in a transaction.

A read request that writes after all (a GET route that records something in the
request's session) must not: on SQLite a deferred transaction that has read cannot
upgrade safely (a commit by another writer makes the upgrade fail at once,
``SQLITE_BUSY_SNAPSHOT``), on PostgreSQL its writes would commit one by one. So
its first write statement (or savepoint, ``SET``, row or transaction-scoped lock) is
refused before it reaches the database (``WriteInReadRequest``); nothing of that
pass is committed or sent, and ``ReadRequestMiddleware`` runs the request again
from the start with an ordinary write transaction. The route is remembered: its
later requests in this process are writers at once. Sessions of their own (not
the request's) are not affected.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("commbase.db")

# Execution option of the engine whose connections serve read requests' sessions.
REQUEST_READ = "commbase_request_read"
READ_METHODS = frozenset({"GET", "HEAD"})
_WRITE_VERBS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "SAVEPOINT", "SET", "LOCK"}
)


@dataclass
class ReadPass:
    """The first pass of a read request; ``wrote`` once it tried to write."""

    wrote: bool = False


_PASS: contextvars.ContextVar[ReadPass | None] = contextvars.ContextVar(
    "commbase_read_pass", default=None
)
# (method, route path) of read routes seen writing: they begin IMMEDIATE at once.
_WRITERS: set[tuple[str, str]] = set()


class WriteInReadRequest(Exception):
    """A read request's session tried to write; the request runs again as a writer."""


# Row locks of every strength (FOR NO KEY UPDATE is the wallet's, ``callers.lock_payer``).
_ROW_LOCK = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|SHARE|KEY\s+SHARE)\b")


def _writes(statement: str) -> bool:
    head = statement.lstrip()[:10].upper()
    verb = head.split(None, 1)[0] if head else ""
    if verb in _WRITE_VERBS:
        return True
    if verb in ("WITH", "SELECT"):
        text = statement.upper()
        if "_XACT_LOCK" in text or _ROW_LOCK.search(text):  # held to the transaction's end
            return True
        # a CTE may end in a write
        return verb == "WITH" and any(f"{w} " in text for w in ("INSERT", "UPDATE", "DELETE"))
    return False


def guard(engine: AsyncEngine) -> None:
    """Refuse writes on connections of read requests."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.get_execution_options().get(REQUEST_READ) and _writes(statement):
            raise refused(statement.lstrip()[:60])


async def read_first(session: AsyncSession) -> bool:
    """Let a writing request's ``session``, not begun yet, read in autocommit on
    PostgreSQL, as a read request's does: its reads cost no ``BEGIN`` and ``COMMIT``
    round trips. Its writes are refused as a read request's are (an error, not a
    statement committed alone), so the caller commits the session before its first
    write: its next statement then begins an ordinary transaction on a connection
    checked out again (returning one resets its isolation level). False, and nothing
    changed, on SQLite, once the session has begun, or with changes waiting to flush."""
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return False
    if session.new or session.dirty or session.deleted:
        return False  # changes waiting for a flush: they belong in a transaction
    await session.connection(
        execution_options={"isolation_level": "AUTOCOMMIT", REQUEST_READ: True}
    )
    return True


def refused(what: str) -> WriteInReadRequest:
    """The error that refuses a write on a read request's connection (its pass then
    runs again as a writer); also raised by ``core.driver``, which the guard cannot see."""
    current = _PASS.get()
    if current is not None:
        current.wrote = True
    return WriteInReadRequest(what)


def _route_key(scope: Scope) -> tuple[str, str]:
    route = scope.get("route")
    return scope.get("method", ""), getattr(route, "path", None) or scope.get("path", "")


def reads_only(scope: Scope) -> bool:
    """Whether this request's session may begin deferred: the first pass of a GET or
    HEAD request (under ``ReadRequestMiddleware``) of a route not seen writing."""
    return _PASS.get() is not None and _route_key(scope) not in _WRITERS


@contextlib.contextmanager
def read_pass() -> Iterator[ReadPass]:
    """Run as the first pass of a read request outside one (the dashboard's start-up
    warm-up): sessions bound to the read engine refuse every write statement."""
    current = ReadPass()
    token = _PASS.set(current)
    try:
        yield current
    finally:
        _PASS.reset(token)


class _Rerun(Exception):
    pass


class ReadRequestMiddleware:
    """Runs GET and HEAD requests with read-only sessions first, and again as writers
    when they tried to write (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []

        async def recording_receive() -> Message:
            message = await receive()
            received.append(message)
            return message

        first = ReadPass()
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and first.wrote:
                raise _Rerun
            started = True
            await send(message)

        first_scope = _copy(scope)
        token = _PASS.set(first)
        try:
            await self.app(first_scope, recording_receive, guarded_send)
        except Exception:
            if not first.wrote or started:
                raise
        finally:
            _PASS.reset(token)
        if not first.wrote:
            return
        key = _route_key(first_scope)
        _WRITERS.add(key)
        log.info("read request wrote; running it again as a writer", route=key[1])
        replay = list(received)

        async def replaying_receive() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(_copy(scope), replaying_receive, send)


def _copy(scope: Scope) -> Scope:
    """A scope for one pass: what the app adds to it (route, state) stays in it."""
    copied = dict(scope)
    if "state" in scope:
        copied["state"] = dict(scope["state"])
    return copied
