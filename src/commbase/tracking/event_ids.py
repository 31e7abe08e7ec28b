"""Keeping ``tracked_event_ids`` exact when tracked events are deleted (PostgreSQL).

Ingest on PostgreSQL stores an event only if its client-chosen id was not yet in
``tracked_event_ids`` (``events``, ``models.TrackedEventId``). An id stays there as
long as its event: whatever deletes events deletes their ids in the same
transaction, so an id whose event is gone (expired, or erased with a call) is new
again to a later batch, as it was when ingest looked the stored events up. SQLite
dedups on ``tracked_events``' own unique key and leaves that table empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_FORGET = text(
    "DELETE FROM tracked_event_ids WHERE (org_id, event_id) IN "
    "(SELECT * FROM unnest(CAST(:orgs AS text[]), CAST(:ids AS text[])))"
)


async def forget(session: AsyncSession, events: Iterable[tuple[str, str]]) -> None:
    """Delete the ids of deleted events, given as ``(org_id, event_id)`` pairs."""
    pairs = list(events)
    if not pairs or session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        _FORGET, {"orgs": [org for org, _ in pairs], "ids": [event for _, event in pairs]}
    )


async def forget_partition(session: AsyncSession, partition: str) -> None:
    """Delete the ids of the events of ``partition`` (a month of ``tracked_events``
    about to be detached and dropped; ingest refuses events that old, so none joins
    it meanwhile). Done before the detach, whose lock on the whole table stops ingest
    and every read of it until the commit."""
    await session.execute(
        text(
            f"DELETE FROM tracked_event_ids i USING {partition} p "  # noqa: S608  (catalog name)
            "WHERE i.org_id = p.org_id AND i.event_id = p.event_id"
        )
    )
