"""API request outcomes (status classes per route group), counted without a write per
request, for error rates on the technical dashboard.

:class:`OutcomeMiddleware` (the innermost middleware: it sees the scope the routes
fill with the route and the principal, which outer layers such as the read-request
pass may copy; an unhandled error counts as a 500) adds one to an in-memory counter
keyed by (organization, UTC minute, route group, status class) when a ``/v1``
request of a signed-in caller ends. :class:`OutcomeCounter`
inserts the counts as rows of ``api_request_counts`` every ``flush_every_s`` and once
more when the process stops, like credential usage (``identity.usage``): a failed
write keeps the counts for the next one. The rows are facts of the ``api_requests``
analytics source (``api.*`` metrics, split by ``route_group`` and ``status_class``).

Requests with no organization (not signed in, unknown routes) are not counted: there
is nobody to show them to.

Every process inserts rows every few seconds, so the table grows with time and the
number of processes: the retention kind ``api_request_counts`` (90 days by default,
per-organization override) deletes rows whose minute is older, through the
``privacy.retention`` job. The analytics rollups built from them stay (history
before the cutoff survives; a rollup rebuild can only recount what rows remain).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commbase.analytics.models import ApiRequestCount
from commbase.core.db import Database
from commbase.core.loops import PeriodicFlush
from commbase.core.time import utcnow
from commbase.privacy.registry import RetentionWindow, delete_older_rows, register_retention

Key = tuple[str, datetime, str, str]  # org, minute, route group, status class
MAX_KEYS = 50_000  # beyond this many distinct keys unflushed, further ones wait


def route_group(template: str) -> str | None:
    """``/v1/calls/{call_id}`` -> ``calls``; None for paths outside ``/v1``."""
    parts = template.split("/")
    if len(parts) < 3 or parts[1] != "v1" or not parts[2]:
        return None
    group = parts[2].split(".", 1)[0]
    return group[:40] if not group.startswith("{") else "other"


def status_class(status: int) -> str:
    return f"{min(max(status // 100, 1), 5)}xx"


class OutcomeCounter(PeriodicFlush):
    """This process's counts, inserted every ``flush_every_s``."""

    loop_name = "outcomes"

    def __init__(self, database: Database, *, flush_every_s: float = 10.0) -> None:
        super().__init__(flush_every_s=flush_every_s)
        self.database = database
        self._counts: Counter[Key] = Counter()

    def count(self, org_id: str, group: str, status: int) -> None:
        minute = utcnow().replace(second=0, microsecond=0)
        key = (org_id, minute, group, status_class(status))
        if key in self._counts or len(self._counts) < MAX_KEYS:
            self._counts[key] += 1

    def pending(self) -> int:
        return sum(self._counts.values())

    async def flush(self) -> int:
        """Insert what was counted; how many rows were written."""
        taken, self._counts = self._counts, Counter()
        if not taken:
            return 0
        rows = [
            {
                "org_id": org,
                "minute": minute,
                "route_group": group,
                "status_class": cls,
                "requests": n,
                "created_at": utcnow(),
            }
            for (org, minute, group, cls), n in sorted(taken.items())
        ]
        try:
            async with self.database.sessionmaker() as session:
                await session.execute(insert(ApiRequestCount), rows)
                await session.commit()
        except BaseException:
            self._counts.update(taken)  # written with the next flush
            raise
        return len(rows)

    async def close(self) -> None:
        """Stop the loop and write what is left."""
        await self.stop()
        await self.flush()


class OutcomeMiddleware:
    """Counts each signed-in ``/v1`` request's final status in an :class:`OutcomeCounter`."""

    def __init__(self, app: ASGIApp, *, counter: OutcomeCounter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        status = 500
        tried = sent = False

        async def watch(message: Message) -> None:
            nonlocal status, tried, sent
            if message["type"] == "http.response.start":
                status, tried = message["status"], True
                await send(message)  # a read pass that wrote is refused here, then rerun
                sent = True
                return
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            principal = scope.get("state", {}).get("principal")
            org_id = getattr(principal, "org_id", None)
            group = route_group(getattr(scope.get("route"), "path", ""))
            # Counted once: not for a pass whose answer was refused (it runs again).
            if org_id and group and (sent or not tried):
                self.counter.count(org_id, group, status)


RETENTION_DAYS = 90


async def purge_counts(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    """Delete up to ``limit`` rows whose minute is older than their organization's cutoff."""
    C = ApiRequestCount
    return await delete_older_rows(
        session, window, limit, key=C.id, org_id=C.org_id, moment=C.minute
    )


register_retention(
    "api_request_counts",
    default_days=RETENTION_DAYS,
    purge=purge_counts,
    per_organization=True,  # purge_counts selects through window.older_than
    description="API request counts per minute (the api.* metrics' raw rows; rollups stay)",
)
