"""Tracking ingest: telemetry event batches, pageviews, visitors and lab experiments.

Events arrive in batches of up to ``track_max_batch`` and are built for
throughput: the body is parsed once (orjson), validated as one list by pydantic
(only a failing batch is revisited item by item), and written with one
statement -- on PostgreSQL an ``INSERT ... SELECT FROM json_to_recordset(batch)`` through
the request's own asyncpg connection, on SQLite one executemany. A replayed id
is skipped by ``ON CONFLICT (org_id, event_id) DO NOTHING``.

No raw IP address is kept unless the organization opts in
(``settings["analytics"]["store_ip"]``). A browser's visitor id is
``vis_`` + 24 hex of sha256(daily salt, organization, IP, User-Agent), as
Plausible does: it is stable for a UTC day and unlinkable across days once the
salt is deleted. A client may send its own id (a first-party cookie) instead;
it is hashed with the organization, so ids never meet across tenants.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Table, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.analytics import touches
from commbase.core.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    invalid,
)
from commbase.core.http import ClientInfo
from commbase.core.ids import new_id
from commbase.core.schemas import INT64, MAX_JSON_DEPTH, _check_storable
from commbase.core.time import utcnow
from commbase.identity import service as identity_service
from commbase.identity.devices import parse_device
from commbase.privacy import retention
from commbase.tracking.metrics import TRACKED_EVENTS
from commbase.tracking.models import (
    LabExperiment,
    Pageview,
    TrackedEvent,
    TrackingSalt,
    Visitor,
    VisitorSession,
)
from commbase.tracking.schemas import (
    LabCreate,
    LabUpdate,
    PageviewCreate,
    RejectedEvent,
    TrackEvent,
    TrackResult,
    VisitorCreate,
)

EVENTS_KIND = "analytics_events"  # the retention kind of tracked events
PAGEVIEWS_KIND = "analytics_pageviews"  # ... of pageviews, visits and lab runs
MAX_FUTURE = timedelta(days=1)  # clocks drift; a timestamp further ahead is a bug
SESSION_TIMEOUT = timedelta(minutes=30)
SALT_DAYS_KEPT = 2  # today's salt and yesterday's; older ones are deleted
JSON_TYPES = ("application/json", "")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
_EVENTS = TypeAdapter(list[TrackEvent])
_SLOW_PATH_MARKERS = (b"\\u0000", b"NaN", b"Infinity")
_PG_INSERT = """
INSERT INTO tracked_events (org_id, event_id, type, user_id, session_id, call_id, visitor_id,
    account_id, data, metadata, occurred_at, received_at, expires_at)
SELECT $1, event_id, type, user_id, session_id, call_id, visitor_id, account_id, data, metadata,
    occurred_at, $2, expires_at
FROM json_to_recordset($3::text::json) AS r(event_id text, type text, user_id text,
    session_id text, call_id text, visitor_id text, account_id text, data jsonb, metadata jsonb,
    occurred_at timestamptz, expires_at timestamptz)
ON CONFLICT (org_id, event_id) DO NOTHING
"""


# ------------------------------------------------------------------ policy


@dataclass(frozen=True, slots=True)
class TrackingPolicy:
    """What an organization's settings say about the events it sends."""

    retention_days: int
    store_ip: bool


async def policy_for(session: AsyncSession, *, org_id: str) -> TrackingPolicy:
    """The organization's event retention and whether it keeps raw IP addresses."""
    org = await identity_service.get_organization(session, org_id=org_id)
    analytics = org.settings.get("analytics")
    store_ip = isinstance(analytics, dict) and analytics.get("store_ip") is True
    days = await retention.days_for(session, org_id=org_id, kind=EVENTS_KIND)
    return TrackingPolicy(retention_days=days, store_ip=store_ip)


# ------------------------------------------------------------------ parsing


# An integer literal orjson may read as a float: beyond 64 bits needs 19 digits or more.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")
ORJSON_MAX_DEPTH = 1024


def _loads(text: bytes) -> Any:
    """JSON text as orjson reads it, except that integers beyond 64 bits stay integers
    (orjson makes them floats, which would store a number nobody sent); ingest then
    refuses them item by item. Raises ``orjson.JSONDecodeError``."""
    value = orjson.loads(text)
    if _LONG_NUMBER.search(text) is None:
        return value
    try:
        return json.loads(text)  # valid JSON already: no NaN, no lone surrogates
    except RecursionError:
        pass
    # orjson read it, so it nests at most 1024 levels: room for that, for this parse.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + ORJSON_MAX_DEPTH + 100)
    try:
        return json.loads(text)
    finally:
        sys.setrecursionlimit(limit)


def parse_batch(body: bytes, *, content_type: str, max_events: int) -> list[Any]:
    """The batch's items, unvalidated; 400/413/415/422 problems for a body that is no batch."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in NDJSON_TYPES:
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) > max_events:
            raise _too_many(len(lines), max_events)
        items = []
        for number, line in enumerate(lines, start=1):
            try:
                items.append(_loads(line))
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(f"Line {number} is not valid JSON: {exc}") from exc
        return items
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(
            "Send a JSON array (application/json) or one event per line (application/x-ndjson)"
        )
    try:
        items = _loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(items, list):
        raise ValidationFailed(
            "The body must be a JSON array of events",
            errors=[{"loc": ["body"], "field": "", "message": "expected an array of events"}],
        )
    if len(items) > max_events:
        raise _too_many(len(items), max_events)
    return items


def _validate_whole(body: bytes) -> list[TrackEvent] | None:
    """A JSON array's events validated straight from its bytes, in one call; None when
    anything in it needs the item-by-item path (an invalid event, a value to refuse)."""
    # pydantic's JSON parser reads NaN and Infinity, which orjson (rightly) refuses.
    if any(marker in body for marker in _SLOW_PATH_MARKERS):
        return None
    try:
        return _EVENTS.validate_json(body)
    except ValidationError:
        return None


def _too_many(count: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"A batch holds at most {limit} events; this one has {count}")


def _error(loc: list[Any], message: str, kind: str = "value_error") -> dict[str, Any]:
    parts = [str(part) for part in loc]
    return {"loc": parts, "field": ".".join(parts), "message": message, "type": kind}


def _client_id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else None


def validate_batch(
    items: list[Any], *, check_nul: bool
) -> tuple[list[tuple[int, TrackEvent]], list[RejectedEvent]]:
    """The valid events with their positions, and each invalid one with its reasons.

    The whole list is validated in one call; only when that fails are the failing
    positions read from the error and the rest validated again, together.
    """
    rejected: dict[int, list[dict[str, Any]]] = {
        index: [_error([], "an event must be a JSON object", "dict_type")]
        for index, item in enumerate(items)
        if not isinstance(item, dict)
    }
    if check_nul:  # only when the body holds an escaped NUL somewhere
        for index, item in enumerate(items):
            if index in rejected:
                continue
            try:
                _check_storable(item)
            except ValueError as exc:
                rejected[index] = [_error([], str(exc))]
    remaining = [i for i in range(len(items)) if i not in rejected]
    valid: list[tuple[int, TrackEvent]] = []
    while remaining:
        try:
            events = _EVENTS.validate_python([items[i] for i in remaining])
        except ValidationError as exc:
            bad: set[int] = set()
            for err in exc.errors(include_url=False, include_input=False):
                position = remaining[int(err["loc"][0])]
                bad.add(position)
                rejected.setdefault(position, []).append(
                    _error(list(err["loc"][1:]), err["msg"], err["type"])
                )
            remaining = [i for i in remaining if i not in bad]
            continue
        valid = list(zip(remaining, events, strict=True))
        break
    return valid, [
        RejectedEvent(index=index, id=_client_id(items[index]), errors=errors)
        for index, errors in sorted(rejected.items())
    ]


# ------------------------------------------------------------------ events


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


def _unstorable(event: TrackEvent) -> RejectedEvent | None:
    for name in ("data", "metadata"):
        try:
            _check_document(getattr(event, name))
        except ValueError as exc:
            return RejectedEvent(index=-1, id=event.id, errors=[_error([name], str(exc))])
    return None


def _rows(
    valid: list[tuple[int, TrackEvent]],
    rejected: list[RejectedEvent],
    *,
    policy: TrackingPolicy,
    now: datetime,
) -> tuple[list[dict[str, Any]], int]:
    """The rows to insert (without org_id and received_at), and how many repeated an id
    of this batch. Events whose times are out of bounds join ``rejected``."""
    rows: list[dict[str, Any]] = []
    period = timedelta(days=policy.retention_days)
    oldest, newest = now - period, now + MAX_FUTURE
    seen: set[str] = set()
    repeated = 0
    late: list[RejectedEvent] = []
    for index, event in valid:
        unstorable = _unstorable(event)
        if unstorable is not None:
            late.append(unstorable.model_copy(update={"index": index}))
            continue
        occurred = event.timestamp or now
        if occurred > newest or occurred < oldest:
            message = (
                "is more than a day in the future"
                if occurred > newest
                else f"is older than the organization's retention of {policy.retention_days} days"
            )
            late.append(
                RejectedEvent(index=index, id=event.id, errors=[_error(["timestamp"], message)])
            )
            continue
        expires = occurred + period
        if event.expires_at is not None:
            if event.expires_at <= now:
                late.append(
                    RejectedEvent(
                        index=index,
                        id=event.id,
                        errors=[_error(["expires_at"], "is already past")],
                    )
                )
                continue
            expires = min(expires, event.expires_at)
        event_id = event.id
        if event_id is None:
            event_id = new_id("evt")
        elif event_id in seen:
            repeated += 1
            continue
        else:
            seen.add(event_id)
        metadata: dict[str, Any] = event.metadata  # type: ignore[assignment]
        if not policy.store_ip:
            metadata.pop("ip_address", None)
        rows.append(
            {
                "event_id": event_id,
                "type": event.type,
                "user_id": event.user_id,
                "session_id": event.session_id,
                "call_id": event.call_id,
                "visitor_id": event.visitor_id,
                "account_id": event.account_id,
                "data": event.data,
                "metadata": metadata,
                "occurred_at": occurred,
                "expires_at": expires,
            }
        )
    if late:
        rejected.extend(late)
        rejected.sort(key=lambda r: r.index)
    return rows, repeated


async def _insert_postgres(
    session: AsyncSession, rows: list[dict[str, Any]], *, org_id: str, now: datetime
) -> int:
    # One JSON document for the whole batch: orjson writes it in one C call and
    # PostgreSQL splits it, where arrays per column cost asyncpg a type check per value.
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    status: str = await driver.execute(_PG_INSERT, org_id, now, orjson.dumps(rows).decode())
    return int(status.rsplit(" ", 1)[1])


async def _insert_sqlite(
    session: AsyncSession, rows: list[dict[str, Any]], *, org_id: str, now: datetime
) -> int:
    for row in rows:
        row["org_id"], row["received_at"] = org_id, now
    statement = sqlite_insert(cast(Table, TrackedEvent.__table__)).on_conflict_do_nothing(
        index_elements=["org_id", "event_id"]
    )
    # executemany's rowcount is not reported; the connection's change counter is.
    before = await session.scalar(text("SELECT total_changes()"))
    await session.execute(statement, rows)
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
    media = content_type.split(";", 1)[0].strip().lower()
    events = _validate_whole(body) if media in JSON_TYPES else None
    valid: list[tuple[int, TrackEvent]]
    rejected: list[RejectedEvent]
    if events is not None:
        if len(events) > max_events:
            raise _too_many(len(events), max_events)
        valid, rejected = list(enumerate(events)), []
    else:
        items = parse_batch(body, content_type=content_type, max_events=max_events)
        valid, rejected = validate_batch(items, check_nul=b"\\u0000" in body)
    if not valid:
        return _result(0, 0, rejected)
    # This query also opens the session's transaction, which the raw insert joins.
    policy = await policy_for(session, org_id=org_id)
    now = utcnow()
    rows, repeated = _rows(valid, rejected, policy=policy, now=now)
    stored = 0
    if rows:
        insert_rows = (
            _insert_postgres if session.get_bind().dialect.name == "postgresql" else _insert_sqlite
        )
        stored = await insert_rows(session, rows, org_id=org_id, now=now)
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


async def active_accounts(
    session: AsyncSession, *, org_id: str, start: datetime, end: datetime
) -> list[str]:
    """The channel accounts the organization's events name in [start, end), sorted."""
    rows = await session.scalars(
        select(TrackedEvent.account_id)
        .where(
            TrackedEvent.org_id == org_id,
            TrackedEvent.occurred_at >= start,
            TrackedEvent.occurred_at < end,
            TrackedEvent.account_id.is_not(None),
            TrackedEvent.account_id != "",
        )
        .distinct()
    )
    return sorted(account for account in rows if account)


async def erase_events_for_call(session: AsyncSession, *, org_id: str, call_id: str) -> int:
    """Delete the organization's events about a call -- its ``call_id`` reference, or
    ``data.call_id`` -- and stop counting them in analytics; returns how many."""
    about_call = (TrackedEvent.org_id == org_id) & (
        (TrackedEvent.call_id == call_id) | (TrackedEvent.data["call_id"].as_string() == call_id)
    )
    found = (
        await session.execute(select(TrackedEvent.seq, TrackedEvent.occurred_at).where(about_call))
    ).all()
    if not found:
        return 0
    await touches.touch(
        session, org_id=org_id, source=TRACKED_EVENTS, times=[row.occurred_at for row in found]
    )
    await session.execute(
        delete(TrackedEvent).where(TrackedEvent.seq.in_([row.seq for row in found]))
    )
    return len(found)


# ------------------------------------------------------------------ visitors


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


async def daily_salt(session: AsyncSession, *, day: date) -> str:
    """The random salt of ``day`` (UTC), created by whoever asks first; old ones go."""
    salt = await session.scalar(select(TrackingSalt.salt).where(TrackingSalt.day == day))
    if salt is not None:
        return salt
    values = {"day": day, "salt": secrets.token_hex(32), "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(TrackingSalt)
    await session.execute(statement.values(values).on_conflict_do_nothing(index_elements=["day"]))
    await session.execute(
        delete(TrackingSalt).where(TrackingSalt.day <= day - timedelta(days=SALT_DAYS_KEPT))
    )
    stored = await session.scalar(select(TrackingSalt.salt).where(TrackingSalt.day == day))
    assert stored is not None  # inserted above, or by a concurrent request that won
    return stored


async def visitor_id_for(
    session: AsyncSession,
    *,
    org_id: str,
    client: ClientInfo,
    own_id: str | None,
    now: datetime,
) -> str:
    """The visitor's id: from the client's own id, else from today's salt, IP and agent."""
    if own_id is not None:
        return "vis_" + _digest("client", org_id, own_id)
    salt = await daily_salt(session, day=now.date())
    return "vis_" + _digest(salt, org_id, client.ip or "", client.user_agent or "")


def _upsert(session: AsyncSession, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


async def _visitor(
    session: AsyncSession,
    *,
    org_id: str,
    visitor_id: str,
    client: ClientInfo,
    now: datetime,
    first_touch: dict[str, Any],
) -> Visitor:
    """The visitor row, created if new, locked for this transaction."""
    device = parse_device(client.user_agent)
    await session.execute(
        _upsert(session, Visitor)
        .values(
            id=visitor_id,
            org_id=org_id,
            first_seen_at=now,
            last_seen_at=now,
            pageviews=0,
            sessions=0,
            device_type=device.type,
            browser=device.browser,
            os=device.os,
            country=client.country,
            city=client.city,
            created_at=now,
            updated_at=now,
            **first_touch,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    visitor = await session.scalar(
        select(Visitor)
        .where(Visitor.id == visitor_id, Visitor.org_id == org_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if visitor is None:  # ids are hashed with the organization: only a forged id lands here
        raise NotFound("Visitor not found")
    if client.country:
        visitor.country, visitor.city = client.country, client.city
    return visitor


async def _open_session(
    session: AsyncSession, *, visitor: Visitor, at: datetime
) -> VisitorSession | None:
    """The visitor's session still open at ``at`` (last seen less than 30 minutes before)."""
    found: VisitorSession | None = await session.scalar(
        select(VisitorSession)
        .where(
            VisitorSession.org_id == visitor.org_id,
            VisitorSession.visitor_id == visitor.id,
            VisitorSession.last_seen_at > at - SESSION_TIMEOUT,
            VisitorSession.started_at <= at,
        )
        .order_by(VisitorSession.last_seen_at.desc())
        .limit(1)
    )
    return found


async def _start_session(
    session: AsyncSession,
    *,
    visitor: Visitor,
    client: ClientInfo,
    at: datetime,
    url: str | None,
    referrer: str | None,
    utm: dict[str, str | None],
) -> VisitorSession:
    device = parse_device(client.user_agent)
    started = VisitorSession(
        id=new_id("vss"),
        org_id=visitor.org_id,
        visitor_id=visitor.id,
        user_id=visitor.user_id,
        started_at=at,
        last_seen_at=at,
        pageviews=0,
        entry_url=url,
        exit_url=url,
        referrer=referrer,
        referrer_host=_host(referrer),
        utm_source=utm.get("utm_source"),
        utm_medium=utm.get("utm_medium"),
        utm_campaign=utm.get("utm_campaign"),
        device_type=device.type,
        browser=device.browser,
        os=device.os,
        country=client.country,
        city=client.city,
    )
    session.add(started)
    visitor.sessions += 1
    # Before any pageview of it: without relationships, flush order ignores foreign keys.
    await session.flush()
    return started


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host[:255] if host else None


UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def _utm(url: str, given: dict[str, str | None]) -> dict[str, str | None]:
    """UTM fields as given, else as found in the URL's query string."""
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        query = {}
    found: dict[str, str | None] = {}
    for name in UTM_FIELDS:
        value = given.get(name) or next(iter(query.get(name, [])), None)
        found[name] = value[:200] if value else None
    return found


def _path(url: str) -> str:
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    return (path or "/")[:1024]


async def _checked_time(
    session: AsyncSession, *, org_id: str, moment: datetime | None, now: datetime
) -> datetime:
    """When a pageview or lab run happened: ``moment`` (default now), at most a day
    ahead and no older than the organization keeps pageviews (a 422 otherwise)."""
    if moment is None:
        return now
    if moment > now + MAX_FUTURE:
        raise invalid("The timestamp is more than a day in the future", "timestamp")
    days = await retention.days_for(session, org_id=org_id, kind=PAGEVIEWS_KIND)
    if moment < now - timedelta(days=days):
        raise invalid(
            f"The timestamp is older than the organization's retention of {days} days",
            "timestamp",
        )
    return moment


async def record_pageview(
    session: AsyncSession, *, org_id: str, data: PageviewCreate, client: ClientInfo
) -> tuple[Pageview, bool]:
    """Store a pageview; extend the visitor's open session or start one. True if started."""
    now = utcnow()
    at = await _checked_time(session, org_id=org_id, moment=data.timestamp, now=now)
    visitor_id = await visitor_id_for(
        session, org_id=org_id, client=client, own_id=data.visitor_id, now=now
    )
    utm = _utm(data.url, data.model_dump(include=set(UTM_FIELDS)))
    visitor = await _visitor(
        session,
        org_id=org_id,
        visitor_id=visitor_id,
        client=client,
        now=at,
        first_touch={
            "user_id": data.user_id,
            "referrer": data.referrer,
            "utm_source": utm["utm_source"],
            "utm_medium": utm["utm_medium"],
            "utm_campaign": utm["utm_campaign"],
        },
    )
    if data.user_id:
        visitor.user_id = data.user_id
    current = await _open_session(session, visitor=visitor, at=at)
    started = current is None
    if current is None:
        current = await _start_session(
            session,
            visitor=visitor,
            client=client,
            at=at,
            url=data.url,
            referrer=data.referrer,
            utm=utm,
        )
    current.pageviews += 1
    current.last_seen_at = max(current.last_seen_at, at)
    current.exit_url = data.url
    if data.user_id:
        current.user_id = data.user_id
    visitor.pageviews += 1
    visitor.last_seen_at = max(visitor.last_seen_at, at)
    device = parse_device(client.user_agent)
    pageview = Pageview(
        id=new_id("pv"),
        org_id=org_id,
        visitor_id=visitor.id,
        session_id=current.id,
        user_id=data.user_id or visitor.user_id,
        url=data.url,
        path=_path(data.url),
        title=data.title,
        referrer=data.referrer,
        referrer_host=_host(data.referrer),
        device_type=device.type,
        browser=device.browser,
        os=device.os,
        country=client.country,
        city=client.city,
        occurred_at=at,
        received_at=now,
        **utm,
    )
    session.add(pageview)
    await session.flush()
    return pageview, started


async def touch_visitor(
    session: AsyncSession, *, org_id: str, data: VisitorCreate, client: ClientInfo
) -> tuple[Visitor, VisitorSession]:
    """Create or update the visitor and return it with its open session (started if none)."""
    now = utcnow()
    visitor_id = await visitor_id_for(
        session, org_id=org_id, client=client, own_id=data.visitor_id, now=now
    )
    first_touch = data.model_dump(
        include={"user_id", "language", "referrer", "utm_source", "utm_medium", "utm_campaign"}
    )
    visitor = await _visitor(
        session,
        org_id=org_id,
        visitor_id=visitor_id,
        client=client,
        now=now,
        first_touch=first_touch,
    )
    for name in ("user_id", "language"):
        value = first_touch[name]
        if value is not None and getattr(visitor, name) != value:
            setattr(visitor, name, value)
    for name in ("referrer", "utm_source", "utm_medium", "utm_campaign"):
        if getattr(visitor, name) is None and first_touch[name] is not None:
            setattr(visitor, name, first_touch[name])
    visitor.last_seen_at = max(visitor.last_seen_at, now)
    current = await _open_session(session, visitor=visitor, at=now)
    if current is None:
        current = await _start_session(
            session,
            visitor=visitor,
            client=client,
            at=now,
            url=None,
            referrer=data.referrer,
            utm={k: first_touch[k] for k in ("utm_source", "utm_medium", "utm_campaign")},
        )
    else:
        current.last_seen_at = max(current.last_seen_at, now)
    await session.flush()
    return visitor, current


# ------------------------------------------------------------------ lab


async def create_lab_experiment(
    session: AsyncSession, *, org_id: str, data: LabCreate
) -> LabExperiment:
    now = utcnow()
    experiment = LabExperiment(
        id=new_id("lab"),
        org_id=org_id,
        occurred_at=await _checked_time(session, org_id=org_id, moment=data.timestamp, now=now),
        **data.model_dump(exclude={"timestamp"}),
    )
    session.add(experiment)
    await session.flush()
    return experiment


async def get_lab_experiment(
    session: AsyncSession, *, org_id: str, experiment_id: str
) -> LabExperiment:
    experiment = await session.scalar(
        select(LabExperiment).where(
            LabExperiment.org_id == org_id, LabExperiment.id == experiment_id
        )
    )
    if experiment is None:
        raise NotFound("Lab experiment not found")
    return experiment


async def update_lab_experiment(
    session: AsyncSession, *, org_id: str, experiment_id: str, data: LabUpdate
) -> LabExperiment:
    """Apply the fields sent (e.g. status completed, output, tokens used)."""
    experiment = await get_lab_experiment(session, org_id=org_id, experiment_id=experiment_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(experiment, name, value)
    await session.flush()
    return experiment


__all__ = [
    "TrackingPolicy",
    "active_accounts",
    "create_lab_experiment",
    "daily_salt",
    "erase_events_for_call",
    "get_lab_experiment",
    "ingest_events",
    "parse_batch",
    "policy_for",
    "record_pageview",
    "touch_visitor",
    "update_lab_experiment",
    "validate_batch",
    "visitor_id_for",
]
