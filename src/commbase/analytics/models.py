"""Analytics tables: tracked facts, hourly rollups, snapshots, custom metrics, alerts.

Tracked facts (``tracked_events``, ``pageviews``, ``visitors``,
``visitor_sessions``, ``lab_experiments``) are written by the tracking API.
``metric_rollups`` holds (count, sum) per organization, metric, UTC hour,
channel account and dimension value; ``analytics_watermarks`` says, per source
table, up to which change time the rollups are complete.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commbase.core.db import PERSONAL, Base, created_at_column, public_id, updated_at_column

# SQLite only auto-increments an INTEGER PRIMARY KEY.
SerialBigInt = BigInteger().with_variant(Integer, "sqlite")


class TrackedEvent(Base):
    """One telemetry event (Ringez ``analytics_events``); kept until ``expires_at``."""

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


class LabExperiment(Base):
    """An AI lab run (seed 002's LabExperiment)."""

    __tablename__ = "lab_experiments"
    __table_args__ = (
        Index("ix_lab_experiments_org_occurred", "org_id", "occurred_at"),
        Index("ix_lab_experiments_org_updated", "org_id", "updated_at"),
        Index("ix_lab_experiments_org_user", "org_id", "user_id"),
    )

    id: Mapped[str] = public_id("lab")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(64))
    visitor_id: Mapped[str | None] = mapped_column(String(64))
    experiment_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))  # started | completed | failed
    input: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    output: Mapped[dict[str, Any]] = mapped_column(default=dict, info=PERSONAL)
    processing_time_ms: Mapped[int | None]
    tokens_used: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TrackingSalt(Base):
    """The random salt of one UTC day's visitor ids; deleted after two days."""

    __tablename__ = "tracking_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()


class MetricRollup(Base):
    """(count, sum) of one metric's facts in one UTC hour, per account and dimension value.

    ``dimension`` '' (with ``value`` '') is the metric's total; ``account`` '' is
    "no channel account". ``hour`` counts hours since the Unix epoch.
    """

    __tablename__ = "metric_rollups"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(120), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Float)


class Watermark(Base):
    """Rollups of ``source`` are complete for every row changed at or before ``position``,
    computed by metric definitions whose fingerprint is ``signature``."""

    __tablename__ = "analytics_watermarks"

    source: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[datetime]
    signature: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = updated_at_column()


class Snapshot(Base):
    """A period's metrics (seed 001's ``analytics_snapshots``), upserted by jobs."""

    __tablename__ = "analytics_snapshots"
    __table_args__ = (
        UniqueConstraint("org_id", "account_id", "period_start", "snapshot_type"),
        Index("ix_analytics_snapshots_org_type_date", "org_id", "snapshot_type", "date"),
        Index("ix_analytics_snapshots_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = public_id("snap")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(64), default="")  # '' = organization-wide
    date: Mapped[date] = mapped_column(Date)  # the local calendar date the period starts on
    snapshot_type: Mapped[str] = mapped_column(String(10))  # hourly|daily|weekly|monthly|yearly
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class CustomMetric(Base):
    """An organization's metric over its tracked events, defined through the API."""

    __tablename__ = "custom_metrics"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = public_id("cmet")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))  # queried as custom.<name>
    description: Mapped[str | None] = mapped_column(String(500))
    event_type: Mapped[str] = mapped_column(String(100))
    aggregate: Mapped[str] = mapped_column(String(10))  # count | sum | avg | distinct
    field: Mapped[str | None] = mapped_column(String(200))  # data.<path> or a reference
    filters: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    dimensions: Mapped[list[str]] = mapped_column(default=list)
    unit: Mapped[str] = mapped_column(String(20), default="count")
    # Fingerprint of the definition whose rollups exist ('' = none yet).
    rollup_signature: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Alert(Base):
    """A threshold on a metric over a trailing window, checked by a job."""

    __tablename__ = "analytics_alerts"
    __table_args__ = (Index("ix_analytics_alerts_org", "org_id"),)

    id: Mapped[str] = public_id("alrt")
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(120))
    comparator: Mapped[str] = mapped_column(String(3))  # gt | gte | lt | lte
    threshold: Mapped[float] = mapped_column(Float)
    window_minutes: Mapped[int] = mapped_column(default=60)
    min_count: Mapped[int] = mapped_column(default=0)  # base facts needed before it can fire
    account_id: Mapped[str | None] = mapped_column(String(64))
    dimension: Mapped[str | None] = mapped_column(String(40))
    dimension_value: Mapped[str | None] = mapped_column(String(200))
    cooldown_minutes: Mapped[int] = mapped_column(default=60)
    enabled: Mapped[bool] = mapped_column(default=True)
    state: Mapped[str] = mapped_column(String(10), default="ok")  # ok | triggered
    last_value: Mapped[float | None] = mapped_column(Float)
    last_checked_at: Mapped[datetime | None]
    last_triggered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


__all__ = [
    "Alert",
    "CustomMetric",
    "LabExperiment",
    "MetricRollup",
    "Pageview",
    "Snapshot",
    "Touch",
    "TrackedEvent",
    "TrackingSalt",
    "Visitor",
    "VisitorSession",
    "Watermark",
]


class Touch(Base):
    """An hour of a source whose facts were deleted: the next fold recomputes it.

    Rollups follow inserts and updates by the source's change column; a deleted row
    leaves nothing to see, so whoever deletes facts that should stop counting
    (a private call erased, a contact deleted) touches their hours. Retention
    purges do not: rollups outlive raw facts on purpose.
    """

    __tablename__ = "analytics_touches"
    __table_args__ = (
        Index("ix_analytics_touches_source_touched", "source", "touched_at"),
        Index("ix_analytics_touches_org_source_touched", "org_id", "source", "touched_at"),
    )

    id: Mapped[int] = mapped_column(SerialBigInt, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(120))  # a watermark key
    hour: Mapped[int] = mapped_column(BigInteger)
    touched_at: Mapped[datetime]
