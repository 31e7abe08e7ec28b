"""Storing telemetry events: one statement per batch, within the organization's bounds.

A batch's valid events become rows -- a plain JSON batch's straight from its bytes
(``plain.py``), any other's once read and validated (``batches.py``) -- written with
one statement --
on PostgreSQL a binary COPY (``copying.py``) through the request's own asyncpg
connection, on SQLite one executemany. Each id is stored once per organization.
On SQLite the table's unique ``(org_id, event_id)`` skips a replayed id (``ON
CONFLICT DO NOTHING``). On PostgreSQL, where the table is partitioned by month and
that key includes ``occurred_at`` (``core.partitions``), the ids the client chose
are first inserted into the unpartitioned ``tracked_event_ids`` (``models.
TrackedEventId``) with ``ON CONFLICT DO NOTHING RETURNING``: only the events whose
id it returned are copied, so a replay with another timestamp stays one event, and
concurrent batches naming the same id serialize on that table's key. An event is refused
when its times fall outside the organization's retention or more than a day
ahead, or when its data holds JSON no column holds.

No raw IP address is kept unless the organization opts in
(``settings["analytics"]["store_ip"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import repeat
from operator import add
from typing import Any, Final, cast

import orjson
from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.driver import driver_of
from commbase.core.errors import NotFound, ValidationFailed
from commbase.core.ids import new_id
from commbase.core.schemas import INT64, MAX_JSON_DEPTH
from commbase.core.time import utcnow
from commbase.identity.models import Organization
from commbase.privacy import domains as _domains  # noqa: F401  (fills the registry)
from commbase.privacy.models import RetentionPolicy
from commbase.privacy.registry import period_of
from commbase.tracking import copying, plain
from commbase.tracking.batches import field_error, read_batch
from commbase.tracking.bounds import MAX_FUTURE
from commbase.tracking.copying import DATA, METADATA, Row
from commbase.tracking.models import TrackedEvent
from commbase.tracking.schemas import RejectedEvent, TrackEventItem, TrackResult
from commbase.tracking.screening import shallow

EVENTS_KIND = "analytics_events"  # the retention kind of tracked events


@dataclass(frozen=True, slots=True)
class TrackingPolicy:
    """What an organization's settings say about the events it sends."""

    retention_days: int
    store_ip: bool


# The organization's settings and its own period for events, in one statement built
# once (it was two, the organization loaded by the ORM, then its retention overrides).
_POLICY: Final = select(
    Organization.settings,
    select(RetentionPolicy.days)
    .where(RetentionPolicy.org_id == Organization.id, RetentionPolicy.kind == EVENTS_KIND)
    .scalar_subquery(),
).where(Organization.id == bindparam("org_id"))


async def policy_for(session: AsyncSession, *, org_id: str) -> TrackingPolicy:
    """The organization's event retention (its override, else the kind's default) and
    whether it keeps raw IP addresses; NotFound for an unknown organization."""
    row = (await session.execute(_POLICY, {"org_id": org_id})).first()
    if row is None:
        raise NotFound("Organization not found")
    settings, days = row
    analytics = settings.get("analytics")
    store_ip = isinstance(analytics, dict) and analytics.get("store_ip") is True
    return TrackingPolicy(retention_days=period_of(EVENTS_KIND, days), store_ip=store_ip)


def _check_document(value: Any, depth: int = 0) -> None:
    """Refuse JSON that no column holds: nested deeper than ``MAX_JSON_DEPTH`` or with an
    integer beyond 64 bits. The same rule as ``AppSchema``'s, cheaper: the batch's text
    already passed orjson (no NaN, no lone surrogates) and its NUL check."""
    items = value.values() if type(value) is dict else value
    if items and depth >= MAX_JSON_DEPTH:
        raise ValueError(f"values may be nested at most {MAX_JSON_DEPTH} levels deep")
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            _check_document(item, depth + 1)
        elif kind is int and item not in INT64:
            raise ValueError("integers must fit in 64 bits (-2^63 to 2^63-1)")


def _document_text(value: Any) -> str:
    """``value`` (an event's data or metadata) as the JSON text its column stores;
    ``ValueError`` when no column holds it (``_check_document``).

    The walk runs only when it could find something. orjson refuses any integer
    beyond 53 bits (``OPT_STRICT_INTEGER``) and any nesting past its own limit, and
    text with at most ``MAX_JSON_DEPTH`` brackets nests no deeper than that: most
    events cost one orjson call and two counts.
    """
    if not value:
        return "{}"
    try:
        text = orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:
        _check_document(value)
        return orjson.dumps(value).decode()
    # Nesting deeper than MAX_JSON_DEPTH takes more brackets than a short text holds.
    if len(text) > 2 * MAX_JSON_DEPTH and text.count(b"{") + text.count(b"[") > MAX_JSON_DEPTH:
        _check_document(value)
    return text.decode()


_STRICT: Final = orjson.OPT_STRICT_INTEGER
_REFERENCES: Final = ("user_id", "session_id", "call_id", "visitor_id", "account_id")
_EMPTY: dict[str, Any] = {}  # read only: what an absent document is stored as


def _documents(events: list[dict[str, Any]], field: str) -> list[str] | None:
    """Each event's ``field`` as the text ``_document_text`` makes of it, when orjson
    writes every one strictly and none holds more brackets than ``MAX_JSON_DEPTH``
    (so none nests deeper); None otherwise."""
    values = map(dict.get, events, repeat(field), repeat(_EMPTY))
    try:
        texts = list(map(orjson.dumps, values, repeat(None), repeat(_STRICT)))
    except orjson.JSONEncodeError:
        return None
    if b"null" in texts:  # validation lets no null through; were it, "{}" is stored
        return None
    decoded = list(map(bytes.decode, texts))
    return decoded if shallow(decoded) else None


def _plain_rows(
    valid: list[tuple[int, TrackEventItem]], *, org_id: str, policy: TrackingPolicy, now: datetime
) -> tuple[list[Row], list[str]] | None:
    """The rows and chosen ids ``_rows`` makes of a plain batch, built column by column
    by C-level ``map`` and ``zip`` (a Python loop per event cost a 1,000-event batch
    about 7 ms): plain when no event repeats an id or asks for an ``expires_at``, every
    time lies within the organization's bounds and every document is plainly storable
    (``_documents``). None otherwise, and ``_rows`` judges the batch."""
    events = cast(list[dict[str, Any]], [event for _, event in valid])
    if not events or any(map(dict.get, events, repeat("expires_at"))):
        return None
    ids: list[Any] = list(map(dict.get, events, repeat("id")))
    chosen = [event_id for event_id in ids if event_id is not None]
    if len(set(chosen)) != len(chosen):
        return None
    if len(chosen) != len(ids):
        # A generated id cannot repeat a stored one: only the client's are looked up.
        ids = [new_id("evt") if event_id is None else event_id for event_id in ids]
    times: list[Any] = list(map(dict.get, events, repeat("timestamp")))
    if None in times:
        times = [now if moment is None else moment for moment in times]
    period = timedelta(days=policy.retention_days)
    if min(times) < now - period or max(times) > now + MAX_FUTURE:
        return None
    if not policy.store_ip:
        for metadata in map(dict.get, events, repeat("metadata")):
            if metadata:
                metadata.pop("ip_address", None)
    data = _documents(events, "data")
    metadata_texts = _documents(events, "metadata")
    if data is None or metadata_texts is None:
        return None
    references = [list(map(dict.get, events, repeat(field))) for field in _REFERENCES]
    rows = list(
        zip(
            repeat(org_id),
            ids,
            map(dict.__getitem__, events, repeat("type")),
            *references,
            data,
            metadata_texts,
            times,
            repeat(now),
            map(add, times, repeat(period)),
        )
    )
    return cast(list[Row], rows), chosen


def _rejected(index: int, event: TrackEventItem, field: str, message: str) -> RejectedEvent:
    return RejectedEvent(index=index, id=event.get("id"), errors=[field_error([field], message)])


def _rows(
    valid: list[tuple[int, TrackEventItem]],
    rejected: list[RejectedEvent],
    *,
    org_id: str,
    policy: TrackingPolicy,
    now: datetime,
) -> tuple[list[Row], list[str], int]:
    """The rows to store (``copying.COLUMNS``' values), the ids the client chose among
    them, and how many events repeated an id of this batch. Events whose times are out
    of bounds, or whose data no column holds, join ``rejected``."""
    rows: list[Row] = []
    chosen: list[str] = []
    period = timedelta(days=policy.retention_days)
    oldest, newest = now - period, now + MAX_FUTURE
    seen: set[str] = set()
    repeated = 0
    late: list[RejectedEvent] = []
    store_ip = policy.store_ip
    append = rows.append
    for index, event in valid:
        get = cast(dict[str, Any], event).get  # fields absent stay absent
        metadata: Any = get("metadata")
        if metadata and not store_ip:
            metadata.pop("ip_address", None)
        try:
            field = "data"
            data = _document_text(get("data"))
            field = "metadata"
            meta = _document_text(metadata)
        except ValueError as exc:
            late.append(_rejected(index, event, field, str(exc)))
            continue
        occurred = get("timestamp") or now
        if occurred > newest:
            late.append(_rejected(index, event, "timestamp", "is more than a day in the future"))
            continue
        if occurred < oldest:
            message = f"is older than the organization's retention of {policy.retention_days} days"
            late.append(_rejected(index, event, "timestamp", message))
            continue
        expires = occurred + period
        asked = get("expires_at")
        if asked is not None:
            if asked <= now:
                late.append(_rejected(index, event, "expires_at", "is already past"))
                continue
            expires = min(expires, asked)
        event_id = get("id")
        if event_id is None:
            # A generated id cannot repeat a stored one: only the client's are looked up.
            event_id = new_id("evt")
        elif event_id in seen:
            repeated += 1
            continue
        else:
            seen.add(event_id)
            chosen.append(event_id)
        append(
            (
                org_id,
                event_id,
                event["type"],
                get("user_id"),
                get("session_id"),
                get("call_id"),
                get("visitor_id"),
                get("account_id"),
                data,
                meta,
                occurred,
                now,
                expires,
            )
        )
    if late:
        rejected.extend(late)
        rejected.sort(key=lambda r: r.index)
    return rows, chosen, repeated


async def _insert_postgres(session: AsyncSession, rows: list[Row], *, chosen: list[str]) -> int:
    driver = await driver_of(session)  # a lost connection is a 503 (core.driver)
    # One round trip before the ids' insert: PostgreSQL's default plan caching (the
    # insert then runs a cached plan) and the batch's savepoint.
    return await copying.write(driver, rows, chosen=chosen)


async def _insert_sqlite(session: AsyncSession, rows: list[Row], *, chosen: list[str]) -> int:
    documents = [
        {
            **dict(zip(copying.COLUMNS, row, strict=True)),
            "data": orjson.loads(row[DATA]),
            "metadata": orjson.loads(row[METADATA]),
        }
        for row in rows
    ]
    statement = sqlite_insert(cast(Table, TrackedEvent.__table__)).on_conflict_do_nothing(
        index_elements=["org_id", "event_id"]
    )
    # executemany's rowcount is not reported; the connection's change counter is.
    before = await session.scalar(text("SELECT total_changes()"))
    await session.execute(statement, documents)
    after = await session.scalar(text("SELECT total_changes()"))
    return int(after or 0) - int(before or 0)


async def ingest_events(
    session: AsyncSession,
    *,
    org_id: str,
    body: bytes,
    content_type: str,
    max_events: int,
) -> TrackResult:
    """Store the batch's valid events (each id once per organization); list the others."""
    batch = plain.read(body, content_type=content_type, max_events=max_events)
    valid: list[tuple[int, TrackEventItem]] = []
    rejected: list[RejectedEvent] = []
    if batch is None:
        valid, rejected = read_batch(body, content_type=content_type, max_events=max_events)
        if not valid:
            return _result(0, 0, rejected)
    # This query also opens the session's transaction, which the raw insert joins.
    policy = await policy_for(session, org_id=org_id)
    now = utcnow()
    ready = None if batch is None else plain.rows(batch, org_id=org_id, policy=policy, now=now)
    if ready is None:
        if batch is not None:  # plainly read, yet not to be stored as it is
            valid, rejected = read_batch(body, content_type=content_type, max_events=max_events)
        ready = _plain_rows(valid, org_id=org_id, policy=policy, now=now)
    if ready is not None:
        (rows, chosen), repeated = ready, 0
    else:
        rows, chosen, repeated = _rows(valid, rejected, org_id=org_id, policy=policy, now=now)
    stored = 0
    if rows:
        insert_rows = (
            _insert_postgres if session.get_bind().dialect.name == "postgresql" else _insert_sqlite
        )
        stored = await insert_rows(session, rows, chosen=chosen)
    return _result(stored, repeated + len(rows) - stored, rejected)


def _result(accepted: int, duplicates: int, rejected: list[RejectedEvent]) -> TrackResult:
    """The batch's result; a 422 when every event of it was refused (nothing to keep)."""
    if rejected and not accepted and not duplicates:
        errors = [
            {
                **error,
                "loc": ["body", str(item.index), *error["loc"]],
                "field": ".".join([str(item.index), *error["loc"]]),
            }
            for item in rejected
            for error in item.errors
        ]
        raise ValidationFailed(
            "No event of the batch could be stored"
            if len(rejected) > 1
            else "The event could not be stored",
            errors=errors,
            rejected=[item.model_dump() for item in rejected],
        )
    return TrackResult(accepted=accepted, duplicates=duplicates, rejected=rejected)
