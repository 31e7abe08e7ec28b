"""At most so many calls in progress per credential: the calls of the placing API key,
agent session or user (for a sign-in) are counted against the key's limit (5 without
a key), lowered by the user's own ``max_concurrent_calls`` when set.

The count runs with the paying wallet locked, one placement of the wallet at a time,
each seeing the calls its predecessors committed. Under READ COMMITTED a statement's
snapshot is taken when the statement starts, so the count cannot ride on a statement
that waits for the lock (its snapshot would predate the wait). On PostgreSQL a phone
call's placement counts in its gate (``calls.gate``), a function whose queries each
take their own snapshot, run once it holds the lock, by the statement that stores the
call. Elsewhere, and where spend caps apply, the placement locks the wallet first
(``callers.lock_payer``) and counts when it stores its call (``calls.storing``: on
PostgreSQL a CTE of the call's ``INSERT``, elsewhere just before it; the transaction
rolls back when it is over the limit), or, where spend caps apply, and for a video
room, in a statement of its own before the caps are read (:func:`check`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import CTE

from commbase.calls.callers import Caller
from commbase.calls.enums import ACTIVE_STATUSES
from commbase.calls.models import Call
from commbase.core.errors import RateLimited
from commbase.core.literals import among

DEFAULT_MAX_CONCURRENT = 5
_CALLS: Table = Call.__table__  # type: ignore[assignment]  # declared as a FromClause
# Whose calls count: the credential's column.
OWNERS = ("api_key_id", "agent_session_id", "user_id")


@dataclass(frozen=True, slots=True)
class InProgress:
    """The calls in progress a placement may join: ``owner``'s column equal to
    ``owner_id`` in ``org_id``, fewer than ``limit``."""

    org_id: str
    owner: str
    owner_id: str
    limit: int

    def parameters(self) -> dict[str, Any]:
        """The parameters of :func:`counted` (named after no column of ``calls``)."""
        return {"a_org_id": self.org_id, "a_owner": self.owner_id}

    def refuse_over(self, active: int | None) -> None:
        if int(active or 0) >= self.limit:
            raise self.refusal()

    def refusal(self) -> RateLimited:
        """The answer to a placement over the limit."""
        return RateLimited(
            f"At most {self.limit} calls may be in progress at once", headers={"Retry-After": "5"}
        )


def over_call_rate(per_hour: int) -> RateLimited:
    """The answer to an agent session that placed its ``calls_per_hour`` already."""
    return RateLimited(
        f"This agent session may place {per_hour} calls per hour", headers={"Retry-After": "60"}
    )


def of(caller: Caller) -> InProgress:
    principal = caller.principal
    limit = DEFAULT_MAX_CONCURRENT
    if principal.key is not None:
        limit = principal.key.max_concurrent_calls
    if caller.limits.max_concurrent_calls is not None:
        limit = min(limit, caller.limits.max_concurrent_calls)
    if caller.api_key_id:
        owner, owner_id = "api_key_id", caller.api_key_id
    elif caller.agent_session_id:
        owner, owner_id = "agent_session_id", caller.agent_session_id
    else:
        owner, owner_id = "user_id", caller.user_id or ""
    return InProgress(org_id=principal.org_id, owner=owner, owner_id=owner_id, limit=limit)


def _active_of(owner: str) -> Select[int]:
    return (
        select(func.count().label("active"))
        .select_from(_CALLS)
        .where(
            _CALLS.c.org_id == bindparam("a_org_id"),
            among(_CALLS.c.status, ACTIVE_STATUSES),
            _CALLS.c[owner] == bindparam("a_owner"),
        )
    )


# Built once: every placement counts (building and keying costs more than running).
_ACTIVE = {owner: _active_of(owner) for owner in OWNERS}


def counted(owner: str) -> CTE:
    """The count as a CTE (``active``) another statement carries and returns."""
    return _active_of(owner).cte("active")


async def check(session: AsyncSession, caller: Caller) -> None:
    """Count the caller's calls in a statement of its own; RateLimited (429) at the limit."""
    await refuse_if_full(session, of(caller))


async def refuse_if_full(session: AsyncSession, limits: InProgress) -> None:
    """:func:`check` for limits already worked out."""
    limits.refuse_over(await session.scalar(_ACTIVE[limits.owner], limits.parameters()))
