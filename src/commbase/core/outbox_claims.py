"""Consumers' side of the outbox: lease due deliveries, keep, finish or give them back.

A worker ``claim()``s its consumer's due deliveries with a lease (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of workers may claim side by side), keeps the
lease while it works by ``renew()``ing it, then ``complete()``s the deliveries it
handled or ``release()``s them for a later try. A worker that dies leaves its lease
to expire and another claims the event again, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.db import rowcount
from commbase.core.literals import listed
from commbase.core.outbox_models import DELIVERIES, EVENTS, OutboxDelivery
from commbase.core.time import utcnow


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    delivery_id: int
    event_id: str
    org_id: str
    type: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


def _due(consumer: str, now: datetime) -> Any:
    """The ids of ``consumer``'s deliveries due at ``now`` (order them by ``_FIRST_DUE``)."""
    return select(DELIVERIES.c.id).where(
        DELIVERIES.c.consumer == consumer,
        DELIVERIES.c.done_at.is_(None),
        DELIVERIES.c.available_at <= now,
    )


# Due first, then recorded first: the pending index's order, so a claim stops after
# its limit however many deliveries wait for a lease's end or a retry.
_FIRST_DUE = (DELIVERIES.c.available_at, DELIVERIES.c.id)


def _claim_postgresql(
    *, consumer: str, worker_id: str, limit: int, now: datetime, lease_until: datetime
) -> Any:
    """Pick, lease and read the claimed events in one statement."""
    picked = (
        _due(consumer, now)
        .order_by(*_FIRST_DUE)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    leased = (
        update(DELIVERIES)
        .where(DELIVERIES.c.id == picked.c.id)
        .values(
            claimed_by=worker_id,
            available_at=lease_until,
            attempts=DELIVERIES.c.attempts + 1,
        )
        .returning(DELIVERIES.c.id, DELIVERIES.c.event_id, DELIVERIES.c.attempts)
        .cte("leased")
    )
    return (
        select(
            leased.c.id,
            EVENTS.c.id,
            EVENTS.c.org_id,
            EVENTS.c.type,
            EVENTS.c.payload,
            EVENTS.c.created_at,
            leased.c.attempts,
        )
        .join_from(leased, EVENTS, EVENTS.c.id == leased.c.event_id)
        .order_by(leased.c.id)
    )


async def claim(
    session: AsyncSession, *, consumer: str, worker_id: str, limit: int = 100, lease_s: float = 60
) -> list[ClaimedEvent]:
    """Lease up to ``limit`` due events for ``consumer``; commit to make the lease hold."""
    now = utcnow()
    lease_until = now + timedelta(seconds=lease_s)
    if session.get_bind().dialect.name == "postgresql":
        statement = _claim_postgresql(
            consumer=consumer, worker_id=worker_id, limit=limit, now=now, lease_until=lease_until
        )
        return [ClaimedEvent(*row) for row in (await session.execute(statement)).all()]
    ids = list(
        (await session.scalars(_due(consumer, now).order_by(*_FIRST_DUE).limit(limit))).all()
    )
    if not ids:
        return []
    await session.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(ids), DELIVERIES.c.available_at <= now)
        .values(claimed_by=worker_id, available_at=lease_until, attempts=DELIVERIES.c.attempts + 1)
    )
    rows = await session.execute(
        select(
            DELIVERIES.c.id,
            EVENTS.c.id,
            EVENTS.c.org_id,
            EVENTS.c.type,
            EVENTS.c.payload,
            EVENTS.c.created_at,
            DELIVERIES.c.attempts,
        )
        .join_from(DELIVERIES, EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
        .where(DELIVERIES.c.id.in_(ids), DELIVERIES.c.claimed_by == worker_id)
        .order_by(DELIVERIES.c.id)
    )
    return [ClaimedEvent(*row) for row in rows.all()]


# Of the deliveries bound to ``delivery_ids``, those the worker bound to ``worker_id``
# still holds: not done, not released, not claimed since by another. The ids are one
# list parameter (``core.literals.listed``), so each statement below is built once on
# the table and rendered once, whatever the number of ids (an expanding IN was
# rendered again at every execution, a new text for each length). Nothing loads
# deliveries as ORM objects, so there is no session state to keep in step.
_HELD = (
    listed(DELIVERIES.c.id, "delivery_ids"),
    DELIVERIES.c.claimed_by == bindparam("worker_id"),
    DELIVERIES.c.done_at.is_(None),
)
# Parameters are never named after a column: such a name would be SET as well.
_RENEW_HELD = (
    update(DELIVERIES)
    .where(*_HELD)
    .values(available_at=bindparam("lease_until", type_=DELIVERIES.c.available_at.type))
)
_DELETE_HELD = delete(DELIVERIES).where(*_HELD)
_GIVE_UP_HELD = (
    update(DELIVERIES)
    .where(*_HELD)
    .values(
        done_at=bindparam("finished_at", type_=DELIVERIES.c.done_at.type),
        last_error=bindparam("error_text", type_=DELIVERIES.c.last_error.type),
    )
)
_RELEASE_HELD = (
    update(DELIVERIES)
    .where(*_HELD)
    .values(
        claimed_by=None,
        available_at=bindparam("retry_at", type_=DELIVERIES.c.available_at.type),
        last_error=bindparam("error_text", type_=DELIVERIES.c.last_error.type),
    )
)


async def renew(
    session: AsyncSession, *, delivery_ids: list[int], worker_id: str, lease_s: float
) -> int:
    """Extend to ``lease_s`` from now the leases this worker still holds among
    ``delivery_ids`` (not completed, not released, not claimed since by another);
    returns how many."""
    if not delivery_ids:
        return 0
    lease_until = utcnow() + timedelta(seconds=lease_s)
    parameters = {"delivery_ids": delivery_ids, "worker_id": worker_id, "lease_until": lease_until}
    return rowcount(await session.execute(_RENEW_HELD, parameters))


async def complete(
    session: AsyncSession, *, delivery_ids: list[int], worker_id: str, error: str | None = None
) -> int:
    """Finish claimed deliveries; returns how many this worker still held.

    A delivery handled is deleted: nothing reads a finished one, and a DELETE writes
    no new row version nor index entries, where marking it done wrote both. One that
    ended in an ``error`` (its consumer gave up) stays, marked done with the error."""
    if not delivery_ids:
        return 0
    parameters: dict[str, Any] = {"delivery_ids": delivery_ids, "worker_id": worker_id}
    if error:
        parameters |= {"finished_at": utcnow(), "error_text": error[:2000]}
        return rowcount(await session.execute(_GIVE_UP_HELD, parameters))
    return rowcount(await session.execute(_DELETE_HELD, parameters))


async def release(
    session: AsyncSession,
    *,
    delivery_ids: list[int],
    worker_id: str,
    retry_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """Give claimed deliveries back, to be claimed again at ``retry_at`` (default now)."""
    if not delivery_ids:
        return
    parameters = {
        "delivery_ids": delivery_ids,
        "worker_id": worker_id,
        "retry_at": retry_at or utcnow(),
        "error_text": error[:2000] if error else None,
    }
    await session.execute(_RELEASE_HELD, parameters)


async def pending_count(session: AsyncSession, *, consumer: str) -> int:
    """How many events ``consumer`` has not completed yet."""
    statement = (
        select(func.count())
        .select_from(OutboxDelivery)
        .where(OutboxDelivery.consumer == consumer, OutboxDelivery.done_at.is_(None))
    )
    return int(await session.scalar(statement) or 0)
