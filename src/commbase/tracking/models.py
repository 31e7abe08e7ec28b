"""Tracking tables: telemetry events, visitors, visits (visitor sessions), pageviews
and the daily salts of visitor ids. Written by the tracking API; counted
by analytics through the metrics declared in ``tracking/metrics.py``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import (
    PERSONAL,
    Base,
    SerialBigInt,
    created_at_column,
    public_id,
    updated_at_column,
)


class TrackedEvent(Base):
    """One telemetry event (a seed's ``analytics_events``); kept until ``expires_at``."""

    __tablename__ = "tracked_events"
    __table_args__ = (
        UniqueConstraint("org_id", "event_id"),
        Index("ix_tracked_events_org_occurred", "org_id", "occurred_at"),
        Index("ix_tracked_events_org_type_occurred", "org_id", "type", "occurred_at"),
        Index("ix_tracked_events_org_received", "org_id", "received_at"),
        Index("ix_tracked_events_org_user", "org_id", "user_id"),
    )

    seq: Mapped[int] = mapped_column(SerialBigInt, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))  # the client's, or a generated evt_ id
    type: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(64))
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(64))  # channel account
    data: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    # ip_address (only when the organization opts in), user_agent, sdk_version.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, info=PERSONAL)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class TrackedEventId(Base):
    """An id a client chose for one of its organization's stored events.

    On PostgreSQL ``tracked_events`` is partitioned by month and its unique key holds
    ``occurred_at`` (``core.partitions``), so it cannot refuse an id replayed with
    another timestamp; this unpartitioned table's primary key does. Ingest inserts a
    batch's ids here first (``ON CONFLICT DO NOTHING RETURNING``) and stores only the
    events whose id it returned: a concurrent batch naming the same id waits on the
    key until the first commits or rolls back. A row lives as long as its event:
    retention and erasure of events by call delete both (``tracking.privacy``,
    ``tracking.service``); anonymising a subject keeps the event, so its id too.
    Ids generated for events sent without one (``evt_``) are unique by construction
    and not inserted here by ingest (migration 0056's fill copied every stored id).
    An event stored without its row (by a process of the release before this table)
    is met by its replay's COPY: ``copying.write`` then skips it.

    No foreign key to ``organizations``: its check would cost each id of every batch,
    and organizations are never deleted (their ids are never reused either).
    """

    __tablename__ = "tracked_event_ids"

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Visitor(Base):
    """A browser seen by the tracking API, under a daily-rotating anonymous id."""

    __tablename__ = "visitors"
    __table_args__ = (
        Index("ix_visitors_org_first_seen", "org_id", "first_seen_at"),
        Index("ix_visitors_org_updated", "org_id", "updated_at"),
        Index("ix_visitors_org_user", "org_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    pageviews: Mapped[int] = mapped_column(default=0)
    sessions: Mapped[int] = mapped_column(default=0)
    device_type: Mapped[str | None] = mapped_column(String(20))
    browser: Mapped[str | None] = mapped_column(String(100))
    os: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(35))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(100))
    referrer: Mapped[str | None] = mapped_column(String(2048), info=PERSONAL)
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class VisitorSession(Base):
    """A visit: pageviews with less than 30 minutes between them."""

    __tablename__ = "visitor_sessions"
    __table_args__ = (
        Index("ix_visitor_sessions_org_started", "org_id", "started_at"),
        Index("ix_visitor_sessions_org_updated", "org_id", "updated_at"),
        Index("ix_visitor_sessions_visitor_last_seen", "visitor_id", "last_seen_at"),
        Index("ix_visitor_sessions_org_user", "org_id", "user_id"),
    )

    id: Mapped[str] = public_id("vss")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    pageviews: Mapped[int] = mapped_column(default=0)
    entry_url: Mapped[str | None] = mapped_column(String(2048), info=PERSONAL)
    exit_url: Mapped[str | None] = mapped_column(String(2048), info=PERSONAL)
    referrer: Mapped[str | None] = mapped_column(String(2048), info=PERSONAL)
    referrer_host: Mapped[str | None] = mapped_column(String(255))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    device_type: Mapped[str | None] = mapped_column(String(20))
    browser: Mapped[str | None] = mapped_column(String(100))
    os: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Pageview(Base):
    __tablename__ = "pageviews"
    __table_args__ = (
        Index("ix_pageviews_org_occurred", "org_id", "occurred_at"),
        Index("ix_pageviews_org_received", "org_id", "received_at"),
        Index("ix_pageviews_org_user", "org_id", "user_id"),
        Index("ix_pageviews_session", "session_id"),
    )

    id: Mapped[str] = public_id("pv")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("visitor_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048), info=PERSONAL)
    path: Mapped[str] = mapped_column(String(1024))
    title: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    referrer: Mapped[str | None] = mapped_column(String(2048), info=PERSONAL)
    referrer_host: Mapped[str | None] = mapped_column(String(255))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    device_type: Mapped[str | None] = mapped_column(String(20))
    browser: Mapped[str | None] = mapped_column(String(100))
    os: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]


class TrackingSalt(Base):
    """The random salt of one UTC day's visitor ids; deleted after two days."""

    __tablename__ = "tracking_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
