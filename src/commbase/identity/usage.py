"""Credential usage (last used, request counts) counted without a write per request.

Every process counts in memory and writes its own counts to the database every
``flush_every_s`` (``COMMBASE_USAGE_FLUSH_S``), and once more when it stops. A
write that fails (the database is away) keeps the counts in the process for the
next one, so nothing counted is lost unless the process is killed (then at most
its last ``flush_every_s`` of counts).

Counts do not pass through Redis: a Redis restarted without persistence would
lose whatever it held, and a count held there could not be given back.

Each table is written in its own short transaction, rows in id order, so two
processes flushing at once wait for each other instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, update

from commbase.core.db import Database
from commbase.core.loops import PeriodicFlush
from commbase.identity.agent_sessions.models import AgentSession
from commbase.identity.api_keys.models import ApiKey
from commbase.identity.models import User
from commbase.identity.publishable_keys.models import PublishableKey
from commbase.identity.sessions.models import LoginSession


@dataclass
class Usage:
    count: int
    last_used: float  # epoch seconds

    @property
    def last_used_at(self) -> datetime:
        return datetime.fromtimestamp(self.last_used, UTC)


class UsageTracker(PeriodicFlush):
    """This process's counts, written to the database every ``flush_every_s``."""

    loop_name = "usage"

    def __init__(self, database: Database, *, flush_every_s: float = 5.0) -> None:
        super().__init__(flush_every_s=flush_every_s)
        self.database = database
        self._counted: dict[str, Usage] = {}

    async def touch(self, *ids: str) -> None:
        """Count one request for each credential (or user) id."""
        now = time.time()
        for key in ids:
            used = self._counted.get(key)
            if used is None:
                self._counted[key] = Usage(1, now)
            else:
                used.count += 1
                used.last_used = now

    def pending(self) -> dict[str, Usage]:
        """What is counted and not written yet (a copy)."""
        return {key: Usage(u.count, u.last_used) for key, u in self._counted.items()}

    def take(self) -> dict[str, Usage]:
        """Everything counted so far; the tracker starts again from nothing."""
        taken, self._counted = self._counted, {}
        return taken

    def give_back(self, taken: dict[str, Usage]) -> None:
        """Return counts that could not be written, to be written with the next ones."""
        for key, used in taken.items():
            mine = self._counted.get(key)
            if mine is None:
                self._counted[key] = used
            else:
                mine.count += used.count
                mine.last_used = max(mine.last_used, used.last_used)

    async def flush(self) -> int:
        """Write what was counted; how many ids were written.

        A table whose write fails gets its counts back (and the error is raised
        after the other tables are written).
        """
        taken = self.take()
        groups: dict[type[Any], dict[str, Usage]] = {}
        for key, used in taken.items():
            model = _MODELS.get(key.split("_", 1)[0])
            if model is not None:
                groups.setdefault(model, {})[key] = used
        failure: BaseException | None = None
        written = 0
        for model, group in groups.items():
            try:
                await self._write(model, group)
            except (Exception, asyncio.CancelledError) as exc:
                self.give_back(group)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                failure = failure or exc
            else:
                written += len(group)
        if failure is not None:
            raise failure
        return written

    async def _write(self, model: type[Any], group: dict[str, Usage]) -> None:
        async with self.database.sessionmaker() as session:
            for key in sorted(group):
                await session.execute(_update(model, key, group[key]))
            await session.commit()

    async def close(self) -> None:
        """Stop the loop after its current write (the caller flushes once more)."""
        await self.stop()


_MODELS: dict[str, type[Any]] = {
    "key": ApiKey,
    "pk": PublishableKey,
    "sess": LoginSession,
    "ags": AgentSession,
    "usr": User,
}


def _update(model: type[Any], key: str, used: Usage) -> Any:
    when = used.last_used_at
    values: dict[str, Any]
    if model is ApiKey or model is PublishableKey:
        values = {
            "total_requests": model.total_requests + used.count,
            "last_used_at": _later(model.last_used_at, when),
            "first_used_at": func.coalesce(model.first_used_at, when),
        }
    elif model is LoginSession:
        values = {"last_seen_at": _later(LoginSession.last_seen_at, when)}
    else:  # AgentSession, User
        values = {"last_activity_at": _later(model.last_activity_at, when)}
    if hasattr(model, "updated_at"):
        # Being used is not being changed: keep updated_at (its onupdate would bump it).
        values["updated_at"] = model.updated_at
    return update(model).where(model.id == key).values(**values)


def _later(column: Any, when: datetime) -> Any:
    """The later of the stored moment and ``when`` (another process may have written
    a later one)."""
    return case((column.is_(None), when), (column < when, when), else_=column)
