"""Pageviews and visits: a browser's visitor row, its sessions and its pageviews.

A pageview extends the visitor's open session or starts one; 30 minutes without
one ends it. The visitor keeps its first touch (referrer, UTM campaign) and the
session its entry and exit pages. Who the visitor is comes from ``visitor_ids.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.core.errors import NotFound
from commbase.core.http import ClientInfo
from commbase.core.ids import new_id
from commbase.core.time import utcnow
from commbase.identity.devices import parse_device
from commbase.tracking.bounds import checked_time
from commbase.tracking.models import Pageview, Visitor, VisitorSession
from commbase.tracking.schemas import PageviewCreate, VisitorCreate
from commbase.tracking.visitor_ids import visitor_id_for

SESSION_TIMEOUT = timedelta(minutes=30)
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


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


async def record_pageview(
    session: AsyncSession, *, org_id: str, data: PageviewCreate, client: ClientInfo
) -> tuple[Pageview, bool]:
    """Store a pageview; extend the visitor's open session or start one. True if started."""
    now = utcnow()
    at = await checked_time(session, org_id=org_id, moment=data.timestamp, now=now)
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
