"""Dashboards API: series, real time, dashboard, patterns, geography, quality, revenue,
company and member aggregates, snapshots, custom metrics, health, CSV exports.

Each route checks the scope, calls one service function and returns its declared
model; the answers are assembled in :mod:`commbase.analytics.dashboards`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from commbase.analytics import custom, dashboards, health, snapshot_service
from commbase.analytics.dashboards import Reader, SeriesQuery
from commbase.analytics.enums import Interval, SnapshotType
from commbase.analytics.schemas import (
    CompanyRead,
    CustomMetricCreate,
    CustomMetricUpdate,
    DashboardRead,
    GeographyRead,
    HealthRead,
    MetricList,
    MetricRead,
    PatternsRead,
    QualityRead,
    RevenueRead,
    SectionsRead,
    SeriesRead,
    SnapshotCreate,
    SnapshotRead,
    UserAggregatesRead,
)
from commbase.analytics.service import DEFAULT_GROUP_LIMIT, MAX_GROUP_LIMIT, MAX_SERIES_VALUES
from commbase.analytics.snapshot_service import SnapshotFilter
from commbase.core.auth import CurrentPrincipal
from commbase.core.csv_export import csv_response
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppSettings
from commbase.core.pagination import Page, PageQuery
from commbase.core.replicas import ReadSession, ReadSessions
from commbase.core.scopes import Scope
from commbase.core.time import utcnow
from commbase.core.types import UtcDateTime
from commbase.messaging.accounts import service as accounts_service

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

MetricsParam = Annotated[
    str,
    Query(
        max_length=2000,
        description="Comma-separated metric names (GET /v1/analytics/metrics lists them)",
    ),
]
FromParam = Annotated[
    UtcDateTime | None,
    Query(alias="from", description="Start (inclusive), with a UTC offset; 1970 to 9000"),
]
ToParam = Annotated[
    UtcDateTime | None,
    Query(alias="to", description="End (exclusive), with a UTC offset; default now"),
]
TzParam = Annotated[
    str | None, Query(max_length=64, description="IANA time zone; default the organization's")
]
AccountQuery = Annotated[
    str | None,
    Query(
        alias="account_id",
        min_length=1,
        max_length=64,
        description="One channel account (a `chan_` id must be one of the organization's: "
        "404 otherwise); other ids are the free-form accounts of tracked events",
    ),
]
DaysParam = Annotated[int, Query(ge=1, le=3660)]
Id = Annotated[str, Path(max_length=80)]
CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV text", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


def _reader(
    principal: CurrentPrincipal, session: ReadSession, cache: AppCache, settings: AppSettings
) -> Reader:
    """The caller's organization, once it holds analytics:read; a replica that has
    replayed everything the primary had committed may serve it (core.replicas)."""
    principal.require(Scope.ANALYTICS_READ)
    return Reader(session, principal.org_id, cache=cache, ttl_s=settings.analytics_cache_ttl_s)


AnalyticsReader = Annotated[Reader, Depends(_reader)]


async def _account(
    principal: CurrentPrincipal, session: DbSession, account_id: AccountQuery = None
) -> str | None:
    """The ``account_id`` query parameter, once a channel account id is known to be one
    of the caller's organization (analytics:read first, so the scope is checked first)."""
    principal.require(Scope.ANALYTICS_READ)
    if account_id is not None:
        await accounts_service.check_analytics_account(
            session, org_id=principal.org_id, account_id=account_id
        )
    return account_id


AccountParam = Annotated[str | None, Depends(_account)]


def _series_query(
    metrics: MetricsParam,
    interval: Interval = Interval.DAY,
    start: FromParam = None,
    end: ToParam = None,
    tz: TzParam = None,
    account_id: AccountParam = None,
    group_by: Annotated[
        str | None, Query(max_length=40, description="A dimension to split the series by")
    ] = None,
    filter_: Annotated[
        str | None, Query(alias="filter", max_length=250, description="dimension:value")
    ] = None,
    group_limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_GROUP_LIMIT,
            description="With group_by: the groups with the largest total of the first "
            "metric are kept; every other value is added up in one group (other: true). "
            f"A series answers at most {MAX_SERIES_VALUES} values (series x points).",
        ),
    ] = DEFAULT_GROUP_LIMIT,
) -> SeriesQuery:
    return SeriesQuery(
        metrics, interval, start, end, tz, account_id, group_by, filter_, group_limit
    )


SeriesParams = Annotated[SeriesQuery, Depends(_series_query)]


@router.get(
    "/series", response_model=SeriesRead, summary="Time series of metrics, with totals and growth"
)
async def series(reader: AnalyticsReader, query: SeriesParams, compare: bool = True) -> SeriesRead:
    """Points per ``interval`` in ``tz`` over [from, to); each series has its total, the
    previous period's total (same length, just before) and the growth in percent."""
    return await dashboards.series(reader, query, compare=compare)


@router.get(
    "/series.csv", summary="A series as CSV", response_class=StreamingResponse, responses=CSV
)
async def series_csv(reader: AnalyticsReader, query: SeriesParams) -> StreamingResponse:
    """metric, group, start, value; the group beyond the kept ones is ``(other)``."""
    export = await dashboards.series_csv(reader, query)
    return csv_response(export.header, export.rows, export.filename)


@router.get(
    "/realtime",
    response_model=SectionsRead,
    summary="Today so far, in the organization's time zone",
)
async def realtime(
    reader: AnalyticsReader,
    account_id: AccountParam = None,
    sections: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Comma-separated section names (calls, conversations, ...); "
            "default every section",
        ),
    ] = None,
) -> SectionsRead:
    """Every snapshot section (or the ``sections`` asked for: only those are computed)
    from local midnight until now, exact to the second."""
    only = dashboards.section_names(sections)
    return await dashboards.realtime(reader, account_id=account_id, only=only)


@router.get(
    "/dashboard",
    response_model=DashboardRead,
    summary="Current period, previous period and growth",
)
async def dashboard(
    reader: AnalyticsReader, days: DaysParam = 30, account_id: AccountParam = None
) -> DashboardRead:
    """The last ``days`` local days including today, the same number of days before
    them, and growth in percent per value (running totals compare with their value
    when the previous period ended)."""
    return await dashboards.dashboard(reader, days=days, account_id=account_id)


@router.get(
    "/patterns",
    response_model=PatternsRead,
    summary="Hour-of-day and weekday distributions, monthly trend",
)
async def patterns(
    reader: AnalyticsReader,
    metric: Annotated[str, Query(max_length=120)] = "calls.total",
    start: FromParam = None,
    end: ToParam = None,
    tz: TzParam = None,
    account_id: AccountParam = None,
) -> PatternsRead:
    """24 local hours and 7 weekdays (Monday first) of an additive metric (count or
    sum), and its month-by-month trend, over [from, to) (default 90 days)."""
    return await dashboards.patterns(
        reader, metric=metric, start=start, end=end, tz=tz, account_id=account_id
    )


@router.get("/geography", response_model=GeographyRead, summary="Top countries and cities")
async def geography(
    reader: AnalyticsReader,
    start: FromParam = None,
    end: ToParam = None,
    limit: Annotated[int, Query(ge=1, le=MAX_GROUP_LIMIT)] = 10,
) -> GeographyRead:
    """Countries by calls placed (with what they cost: call revenue) and by visits;
    cities by pageviews (calls carry no city)."""
    return await dashboards.geography(reader, start=start, end=end, limit=limit)


@router.get(
    "/quality",
    response_model=QualityRead,
    summary="Call quality: MOS, latency, jitter, packet loss",
)
async def quality(
    reader: AnalyticsReader, start: FromParam = None, end: ToParam = None
) -> QualityRead:
    return await dashboards.quality(reader, start=start, end=end)


@router.get("/revenue", response_model=RevenueRead, summary="Revenue from the ledger")
async def revenue(
    reader: AnalyticsReader,
    interval: Interval = Interval.DAY,
    start: FromParam = None,
    end: ToParam = None,
) -> RevenueRead:
    """Top-ups (money in), charges and refunds per interval in minor units, and MRR and
    ARR at the range's end (the organization's currency)."""
    return await dashboards.revenue(reader, interval=interval, start=start, end=end)


@router.get(
    "/company",
    response_model=CompanyRead,
    summary="The organization's all-time call aggregates",
)
async def company(reader: AnalyticsReader) -> CompanyRead:
    return await dashboards.company(reader)


@router.get(
    "/users/{user_id}",
    response_model=UserAggregatesRead,
    summary="One member's all-time call aggregates",
)
async def user_aggregates(user_id: Id, reader: AnalyticsReader) -> UserAggregatesRead:
    return await dashboards.user_aggregates(reader, user_id=user_id)


# ------------------------------------------------------------------ metrics


@router.get("/metrics", response_model=MetricList, summary="Every metric you can query")
async def list_metrics(principal: CurrentPrincipal, session: DbSession) -> MetricList:
    principal.require(Scope.ANALYTICS_READ)
    return MetricList(data=await custom.list_metrics(session, org_id=principal.org_id))


@router.post(
    "/metrics",
    response_model=MetricRead,
    status_code=status.HTTP_201_CREATED,
    summary="Define a custom metric over your tracked events",
)
async def create_metric(
    body: CustomMetricCreate, principal: CurrentPrincipal, session: DbSession
) -> MetricRead:
    principal.require(Scope.ANALYTICS_WRITE)
    return await custom.create_metric(
        session, org_id=principal.org_id, data=body, created_by=principal.user_id
    )


@router.patch("/metrics/{name}", response_model=MetricRead, summary="Change a custom metric")
async def update_metric(
    name: Id, body: CustomMetricUpdate, principal: CurrentPrincipal, session: DbSession
) -> MetricRead:
    principal.require(Scope.ANALYTICS_WRITE)
    return await custom.update_metric(session, org_id=principal.org_id, name=name, data=body)


@router.delete(
    "/metrics/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a custom metric"
)
async def delete_metric(name: Id, principal: CurrentPrincipal, session: DbSession) -> Response:
    principal.require(Scope.ANALYTICS_WRITE)
    await custom.delete_metric(session, org_id=principal.org_id, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------ snapshots


def _snapshot_filter(
    type_: Annotated[SnapshotType | None, Query(alias="type")] = None,
    account_id: AccountParam = None,
    start: FromParam = None,
    end: ToParam = None,
) -> SnapshotFilter:
    return SnapshotFilter(type_, account_id, start, end)


SnapshotParams = Annotated[SnapshotFilter, Depends(_snapshot_filter)]


@router.get("/snapshots", response_model=Page[SnapshotRead], summary="Stored snapshots")
async def list_snapshots(
    principal: CurrentPrincipal, session: ReadSession, page: PageQuery, where: SnapshotParams
) -> Page[SnapshotRead]:
    """Snapshots whose period starts in [from, to), of one type and account if asked."""
    principal.require(Scope.ANALYTICS_READ)
    return await snapshot_service.list_snapshots(
        session, org_id=principal.org_id, where=where, params=page
    )


@router.get(
    "/snapshots.csv", summary="Snapshots as CSV", response_class=StreamingResponse, responses=CSV
)
async def snapshots_csv(
    principal: CurrentPrincipal, sessions: ReadSessions, where: SnapshotParams
) -> StreamingResponse:
    """One row per snapshot, one column per metric (``calls.total``, ...), oldest first."""
    principal.require(Scope.ANALYTICS_READ)
    export = snapshot_service.export_snapshots(sessions, org_id=principal.org_id, where=where)
    return csv_response(export.header, export.rows, export.filename)


@router.post(
    "/snapshots",
    response_model=SnapshotRead,
    status_code=status.HTTP_201_CREATED,
    summary="Generate (or regenerate) a snapshot now",
)
async def create_snapshot(
    body: SnapshotCreate, principal: CurrentPrincipal, session: DbSession
) -> SnapshotRead:
    """The snapshot of the period holding ``date`` (and ``hour``); periods that have not
    begun are refused."""
    principal.require(Scope.ANALYTICS_WRITE)
    return await snapshot_service.create_snapshot(
        session, org_id=principal.org_id, data=body, now=utcnow()
    )


# ------------------------------------------------------------------ health


@router.get("/health", response_model=HealthRead, summary="Are snapshots and rollups current?")
async def analytics_health(principal: CurrentPrincipal, session: DbSession) -> HealthRead:
    principal.require(Scope.ANALYTICS_READ)
    return await health.health(session, org_id=principal.org_id, now=utcnow())
