"""Analytics tables: hourly rollups, watermarks, touches, snapshots, custom metrics.

``metric_rollups`` holds (count, sum) of a pack of metrics per organization, UTC
hour, channel account and dimension value; ``analytics_watermarks`` says, per source
table, up to which change time the rollups are complete.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commbase.analytics.sql import Numbers
from commbase.core.db import (
    Base,
    SerialBigInt,
    created_at_column,
    public_id,
    updated_at_column,
)


class MetricRollup(Base):
    """The (count, sum) of every metric of one pack, for one UTC hour, account and dimension value.

    A pack is a declared source's metrics (``<watermark key>:<n>``, at most
    ``PACK_SIZE`` metrics each) or one custom metric (its name); ``totals`` holds
    ``[count, sum]`` per metric of the pack, in the pack's order. One row per
    (hour, account, value) whatever the number of metrics: the rows of a busy
    hour are bounded by the dimensions' values, not multiplied by metrics.

    ``dimension`` '' (with ``value`` '') is the pack's total; ``account`` '' is
    "no channel account". ``hour`` counts hours since the Unix epoch. A row of
    dimension ``!<name>`` (``aggregates.overflow_dimension``) says the dimension had
    too many values in that hour to be rolled up: reads by it take the hour raw.
    """

    __tablename__ = "metric_rollups"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(120), primary_key=True)  # the pack
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    totals: Mapped[list[float]] = mapped_column(Numbers())


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
    # Why its last fold failed, and when (None: it did not). Shown in the API.
    rollup_error: Mapped[str | None] = mapped_column(String(500))
    rollup_failed_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


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


class ApiRequestCount(Base):
    """How many ``/v1`` requests of one organization ended in one status class, per
    route group and minute, as one process counted them between two flushes
    (:mod:`commbase.analytics.api_outcomes`). Rows are only inserted: a minute's
    figure is the sum of every process's rows for it."""

    __tablename__ = "api_request_counts"
    __table_args__ = (
        Index("ix_api_request_counts_org_minute", "org_id", "minute"),
        Index("ix_api_request_counts_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(SerialBigInt, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    minute: Mapped[datetime]  # the start of the UTC minute the requests ended in
    route_group: Mapped[str] = mapped_column(String(40))  # "calls", "analytics", ...
    status_class: Mapped[str] = mapped_column(String(3))  # "2xx", "3xx", "4xx", "5xx"
    requests: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at_column()
