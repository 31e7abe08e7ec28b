"""Tracking's part in GDPR requests and retention.

**Subjects.** The tracking API's ``user_id`` is the caller's own id for the
person using its product: a member's id or a contact's id. So a subject of
either kind owns the tracked rows whose ``user_id`` is theirs, and the
sessions and pageviews of visitors linked to them. Export lists those rows.
Erasure keeps each row -- dashboards and rollups count it -- but swaps the
subject's id for the erasure's anonymous reference and empties every personal
column (event data and metadata, URLs, titles, referrers, lab input and output).
An erased event keeps its client-chosen id (``event_ids``): a replay of it stays
a duplicate, and the id is not personal (the client's own, like a message id).

**Retention.**

* ``analytics_events``: tracked events are deleted once past the ``expires_at``
  stamped at ingest (timestamp + the organization's period, 90 days by
  default). Changing the override restamps every stored event of the
  organization to timestamp + the new period (an earlier expiry its sender
  chose is not kept apart, so it is restamped too). The ids of deleted events
  go with them (``event_ids``): a later batch may use such an id again.
* ``analytics_pageviews``: pageviews, sessions and lab experiments older than
  395 days, and visitors not seen for as long (13 months, as web analytics keep).

Daily visitor-id salts are deleted by ``visitor_ids.daily_salt`` itself after two days.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core import partitions
from commbase.core.db import rowcount
from commbase.core.literals import listed
from commbase.engagement.lab.models import LabExperiment
from commbase.privacy.records import as_records, blank_personal
from commbase.privacy.registry import (
    SUBJECT_TYPES,
    RetentionWindow,
    register_retention,
    register_subject,
)
from commbase.tracking import event_ids
from commbase.tracking.models import Pageview, TrackedEvent, Visitor, VisitorSession

DEFAULT_EVENT_DAYS = 90
DEFAULT_PAGEVIEW_DAYS = 395
TABLES = {"tracked_events", "pageviews", "visitor_sessions", "visitors", "lab_experiments"}
RESTAMP_CHUNK = 5000


def _linked_visitors(org_id: str, subject_id: str) -> Any:
    return select(Visitor.id).where(Visitor.org_id == org_id, Visitor.user_id == subject_id)


def _owned(model: Any, org_id: str, subject_id: str) -> ColumnElement[bool]:
    """Rows of ``model`` about the subject: theirs by user id, or their visitor's."""
    mine: ColumnElement[bool] = model.user_id == subject_id
    if model in (Pageview, VisitorSession):
        mine = or_(mine, model.visitor_id.in_(_linked_visitors(org_id, subject_id)))
    owned: ColumnElement[bool] = (model.org_id == org_id) & mine
    return owned


MODELS: dict[str, Any] = {
    "tracked_events": TrackedEvent,
    "pageviews": Pageview,
    "visitor_sessions": VisitorSession,
    "visitors": Visitor,
    "lab_experiments": LabExperiment,
}


async def export_subject(
    session: AsyncSession, *, org_id: str, subject_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The subject's tracked rows, one file per table that holds any."""
    files: dict[str, list[dict[str, Any]]] = {}
    for name, model in MODELS.items():
        key = model.seq if model is TrackedEvent else model.id
        rows = as_records(
            await session.scalars(
                select(model).where(_owned(model, org_id, subject_id)).order_by(key)
            )
        )
        if rows:
            files[name] = rows
    return files


async def erase_subject(
    session: AsyncSession, *, org_id: str, subject_id: str, reference: str
) -> dict[str, int]:
    """Empty the personal columns of the subject's rows and swap their id for ``reference``."""
    counts: dict[str, int] = {}
    # Visitors last: the others find their rows through the visitor's user id.
    for name in ("tracked_events", "pageviews", "visitor_sessions", "lab_experiments", "visitors"):
        model = MODELS[name]
        values: dict[Any, Any] = {**blank_personal(model), model.user_id: reference}
        result = await session.execute(
            update(model)
            .where(_owned(model, org_id, subject_id))
            .values(values)
            .execution_options(synchronize_session=False)
        )
        if changed := rowcount(result):  # tables without their rows stay out of the report
            counts[name] = changed
    return counts


# ---------------------------------------------------------------- retention


async def purge_events(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    """Delete up to ``limit`` tracked events past their stamped expiry.

    On PostgreSQL the pass over every organization first drops each month's
    partition that ended before the longest period in force (no organization may
    send events that old) and holds no event still kept (``core.partitions``); rows
    are deleted one by one only in the months that still hold some.
    """
    dropped = 0
    if window.org_id is None:
        longest = max([window.default_days, *window.overrides.values()])
        dropped = await partitions.drop_partitions_where_none(
            session,
            "tracked_events",
            kept="expires_at > :now",
            before=window.now - timedelta(days=longest),
            params={"now": window.now},
            before_drop=event_ids.forget_partition,
        )
    found = (
        await session.execute(
            select(TrackedEvent.seq, TrackedEvent.org_id, TrackedEvent.event_id)
            .where(TrackedEvent.expires_at <= window.now)
            .order_by(TrackedEvent.expires_at)
            .limit(limit)
        )
    ).all()
    if found:
        # The batch's keys as one list parameter (``core.literals.listed``: one text on
        # PostgreSQL whatever the batch's length); a purge loads no rows as objects.
        await session.execute(
            delete(TrackedEvent).where(listed(TrackedEvent.seq, "seqs")),
            {"seqs": [row.seq for row in found]},
            execution_options={"synchronize_session": False},
        )
        await event_ids.forget(session, [(row.org_id, row.event_id) for row in found])
    return dropped + len(found)


async def restamp_events(session: AsyncSession, *, org_id: str, days: int | None) -> None:
    """Give the organization's stored events the expiry of its new period."""
    period = timedelta(days=DEFAULT_EVENT_DAYS if days is None else days)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text(
                "UPDATE tracked_events SET expires_at = occurred_at + make_interval(days => :d) "
                "WHERE org_id = :org"
            ),
            {"d": period.days, "org": org_id},
        )
        return
    last = 0
    while True:
        rows = (
            await session.execute(
                select(TrackedEvent.seq, TrackedEvent.occurred_at)
                .where(TrackedEvent.org_id == org_id, TrackedEvent.seq > last)
                .order_by(TrackedEvent.seq)
                .limit(RESTAMP_CHUNK)
            )
        ).all()
        if not rows:
            return
        await session.execute(
            update(TrackedEvent),
            [{"seq": row.seq, "expires_at": row.occurred_at + period} for row in rows],
        )
        last = rows[-1].seq


async def purge_pageviews(session: AsyncSession, *, window: RetentionWindow, limit: int) -> int:
    """Delete up to ``limit`` old pageviews, then sessions, lab runs and visitors."""
    removed = 0
    for model, moment, key in (
        (Pageview, Pageview.occurred_at, Pageview.id),
        (VisitorSession, VisitorSession.last_seen_at, VisitorSession.id),
        (LabExperiment, LabExperiment.occurred_at, LabExperiment.id),
        (Visitor, Visitor.last_seen_at, Visitor.id),
    ):
        budget = limit - removed
        if budget <= 0:
            break
        ids = list(
            await session.scalars(
                select(key).where(window.older_than(model.org_id, moment)).limit(budget)
            )
        )
        if ids:
            # A visitor not seen for the period has no younger session or pageview.
            await session.execute(
                delete(model).where(listed(key, "ids")),
                {"ids": ids},
                execution_options={"synchronize_session": False},
            )
            removed += len(ids)
    return removed


for _subject_type in SUBJECT_TYPES:
    register_subject(
        "analytics", _subject_type, tables=TABLES, export=export_subject, erase=erase_subject
    )
register_retention(
    "analytics_events",
    default_days=DEFAULT_EVENT_DAYS,
    purge=purge_events,
    on_change=restamp_events,
    description="Tracked events, counted from when they happened",
)
register_retention(
    "analytics_pageviews",
    default_days=DEFAULT_PAGEVIEW_DAYS,
    purge=purge_pageviews,
    description="Pageviews, visitor sessions, lab experiments and visitors not seen since",
)
