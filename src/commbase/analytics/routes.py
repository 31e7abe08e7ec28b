"""Dashboards API: series, real time, dashboard, patterns, geography, quality, revenue,
company and user aggregates, snapshots, custom metrics, health, CSV exports.

Every number is computed from the metric registry (rollups plus live tail), so
it is exact to the second; repeats are served from a cache keyed by the data's
version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from commbase.analytics import custom, snapshots
from commbase.analytics.models import CustomMetric, Snapshot, Watermark
from commbase.analytics.periods import INTERVALS, floor, zone
from commbase.analytics.registry import invalid, registered, sections
from commbase.analytics.rollup import mark_custom_stale
from commbase.analytics.schemas import (
    CustomMetricCreate,
    CustomMetricUpdate,
    MetricRead,
    SnapshotCreate,
    SnapshotRead,
)
from commbase.analytics.service import MAX_METRICS, Analytics, SeriesSpec
from commbase.core.auth import CurrentPrincipal
from commbase.core.csv_export import csv_response
from commbase.core.db import DbSession
from commbase.core.deps import AppCache, AppDatabase, AppSettings
from commbase.core.errors import AlreadyExists, NotFound
from commbase.core.jobs import JobRun
from commbase.core.pagination import Page, PageQuery, paginate
from commbase.core.scopes import Scope
from commbase.core.time import utcnow
from commbase.identity.members.models import Membership
from commbase.identity.models import Organization

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

MetricsParam = Annotated[
    str,
    Query(
        max_length=2000,
        description="Comma-separated metric names (GET /v1/analytics/metrics lists them)",
    ),
]
FromParam = Annotated[datetime | None, Query(alias="from", description="Start (inclusive)")]
ToParam = Annotated[datetime | None, Query(alias="to", description="End (exclusive); default now")]
TzParam = Annotated[
    str | None, Query(max_length=64, description="IANA time zone; default the organization's")
]
AccountParam = Annotated[
    str | None, Query(min_length=1, max_length=64, description="One channel account")
]
DaysParam = Annotated[int, Query(ge=1, le=3660)]
MAX_RANGE = timedelta(days=3660)
Id = Annotated[str, Path(max_length=80)]


async def _org(session: DbSession, org_id: str) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("Organization not found")
    return org


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise invalid(f"`{name}` needs a UTC offset (e.g. 2026-01-01T00:00:00Z)", name)
    return value.astimezone(UTC)


def _range(
    start: datetime | None, end: datetime | None, default_days: int = 30
) -> tuple[datetime, datetime]:
    end = _aware(end, "to") if end is not None else utcnow()
    start = _aware(start, "from") if start is not None else end - timedelta(days=default_days)
    if start >= end:
        raise invalid("`from` must be before `to`", "from")
    if end - start > MAX_RANGE:
        raise invalid("The range may span at most 10 years", "from")
    return start, end


def _names(metrics: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in metrics.split(",") if n.strip()))
    if not names:
        raise invalid("Name at least one metric", "metrics")
    if len(names) > MAX_METRICS:
        raise invalid(f"At most {MAX_METRICS} metrics per query", "metrics")
    return names


def _where(filter_: str | None) -> tuple[str, str] | None:
    if filter_ is None:
        return None
    dimension, sep, value = filter_.partition(":")
    if not sep or not dimension:
        raise invalid("`filter` is dimension:value, e.g. country:US", "filter")
    return dimension, value


def _analytics(
    session: DbSession, org_id: str, cache: AppCache, settings: AppSettings
) -> Analytics:
    return Analytics(session, org_id, cache=cache, ttl_s=settings.analytics_cache_ttl_s)


@dataclass(frozen=True)
class SeriesQuery:
    """What a series request asks for, as sent (validated by ``_series``)."""

    metrics: str
    interval: str = "day"
    start: datetime | None = None
    end: datetime | None = None
    tz: str | None = None
    account_id: str | None = None
    group_by: str | None = None
    filter: str | None = None


def _series_query(
    metrics: MetricsParam,
    interval: Annotated[str, Query(max_length=5)] = "day",
    start: FromParam = None,
    end: ToParam = None,
    tz: TzParam = None,
    account_id: AccountParam = None,
    group_by: Annotated[str | None, Query(max_length=40)] = None,
    filter_: Annotated[str | None, Query(alias="filter", max_length=250)] = None,
) -> SeriesQuery:
    return SeriesQuery(metrics, interval, start, end, tz, account_id, group_by, filter_)


SeriesParams = Annotated[SeriesQuery, Depends(_series_query)]


async def _series(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    query: SeriesQuery,
    *,
    compare: bool,
) -> dict[str, Any]:
    principal.require(Scope.ANALYTICS_READ)
    if query.interval not in INTERVALS:
        raise invalid(f"`interval` is one of {', '.join(INTERVALS)}", "interval")
    org = await _org(session, principal.org_id)
    start, end = _range(query.start, query.end)
    spec = SeriesSpec(
        _names(query.metrics),
        query.interval,
        start,
        end,
        zone(query.tz or org.timezone),
        account=query.account_id,
        group_by=query.group_by,
        where=_where(query.filter),
        compare=compare,
    )
    return await _analytics(session, org.id, cache, settings).series(spec)


@router.get("/series", summary="Time series of metrics, with totals and growth")
async def series(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    query: SeriesParams,
    compare: bool = True,
) -> dict[str, Any]:
    """Points per ``interval`` in ``tz`` over [from, to); each series has its total, the
    previous period's total (same length, just before) and the growth in percent."""
    return await _series(principal, session, cache, settings, query, compare=compare)


@router.get("/series.csv", summary="A series as CSV", response_class=StreamingResponse)
async def series_csv(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    query: SeriesParams,
) -> StreamingResponse:
    result = await _series(principal, session, cache, settings, query, compare=False)

    async def rows() -> AsyncIterator[list[Any]]:
        for entry in result["series"]:
            for point in entry["points"]:
                yield [entry["metric"], entry["group"] or "", point["start"], point["value"]]

    return csv_response(["metric", "group", "start", "value"], rows(), "series.csv")


@router.get("/realtime", summary="Today so far, in the organization's time zone")
async def realtime(
    principal: CurrentPrincipal,
    session: DbSession,
    account_id: AccountParam = None,
) -> dict[str, Any]:
    """The seed's getRealTimeMetrics, exact to the second: every snapshot section
    from local midnight until now."""
    principal.require(Scope.ANALYTICS_READ)
    org = await _org(session, principal.org_id)
    tz = zone(org.timezone)
    now = utcnow()
    start = floor(now, "day", tz)
    return await snapshots.compute(
        session, org.id, start, now + timedelta(microseconds=1), tz, account=account_id
    )


@router.get("/dashboard", summary="Current period, previous period and growth")
async def dashboard(
    principal: CurrentPrincipal,
    session: DbSession,
    days: DaysParam = 30,
    account_id: AccountParam = None,
) -> dict[str, Any]:
    """The seed's getDashboardMetrics: the last ``days`` local days including today,
    the same number of days before them, and growth in percent per metric."""
    principal.require(Scope.ANALYTICS_READ)
    org = await _org(session, principal.org_id)
    tz = zone(org.timezone)
    now = utcnow()
    start = floor(now, "day", tz)
    for _ in range(days - 1):
        start = floor(start - timedelta(hours=1), "day", tz)
    result = await snapshots.compute(
        session,
        org.id,
        start,
        now + timedelta(microseconds=1),
        tz,
        account=account_id,
        previous=True,
    )
    current = {k: v for k, v in result.items() if k not in ("previous", "growth")}
    return {
        "days": days,
        "current": current,
        "previous": result["previous"],
        "growth": result["growth"],
    }


@router.get("/patterns", summary="Hour-of-day and weekday distributions, monthly trend")
async def patterns(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    metric: Annotated[str, Query(max_length=120)] = "calls.total",
    start: FromParam = None,
    end: ToParam = None,
    tz: TzParam = None,
    account_id: AccountParam = None,
) -> dict[str, Any]:
    """24 local hours and 7 weekdays (Monday first) of an additive metric (count or
    sum), and its month-by-month trend, over [from, to) (default 90 days)."""
    principal.require(Scope.ANALYTICS_READ)
    org = await _org(session, principal.org_id)
    start, end = _range(start, end, default_days=90)
    analytics = _analytics(session, org.id, cache, settings)
    (found,) = await analytics.resolve([metric])
    if found.aggregate not in ("count", "sum"):
        raise invalid("Patterns add values up: use a count or sum metric", "metric")
    zone_ = zone(tz or org.timezone)
    hourly = await analytics.series(
        SeriesSpec((metric,), "hour", start, end, zone_, account=account_id, compare=False)
    )
    by_hour = [0.0] * 24
    by_weekday = [0.0] * 7
    for point in hourly["series"][0]["points"]:
        local = datetime.fromisoformat(point["start"]).astimezone(zone_)
        by_hour[local.hour] += point["value"]
        by_weekday[local.weekday()] += point["value"]
    monthly = await analytics.series(
        SeriesSpec((metric,), "month", start, end, zone_, account=account_id, compare=False)
    )
    return {
        "metric": metric,
        "timezone": str(zone_),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "hourlyDistribution": [_number(v) for v in by_hour],
        "dailyDistribution": [_number(v) for v in by_weekday],
        "monthlyTrend": monthly["series"][0]["points"],
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 6)


def _grouped(result: dict[str, Any], metric: str) -> dict[str, Any]:
    return {e["group"]: e["total"] for e in result["series"] if e["metric"] == metric}


@router.get("/geography", summary="Top countries and cities")
async def geography(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    start: FromParam = None,
    end: ToParam = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Countries by calls placed (with what they cost: call revenue) and by visits;
    cities by pageviews (calls carry no city)."""
    principal.require(Scope.ANALYTICS_READ)
    org = await _org(session, principal.org_id)
    start, end = _range(start, end)
    analytics = _analytics(session, org.id, cache, settings)
    tz = zone(org.timezone)

    async def grouped(metrics: tuple[str, ...], dimension: str) -> dict[str, Any]:
        return await analytics.series(
            SeriesSpec(metrics, "year", start, end, tz, group_by=dimension, compare=False)
        )

    calls = await grouped(("calls.total", "calls.cost"), "country")
    counts, revenue = _grouped(calls, "calls.total"), _grouped(calls, "calls.cost")
    countries = sorted(
        (
            {"country": c or None, "calls": n, "revenue": revenue.get(c, 0)}
            for c, n in counts.items()
        ),
        key=lambda row: (-row["calls"], row["country"] or ""),
    )[:limit]
    views = _grouped(await grouped(("pageviews.total",), "city"), "pageviews.total")
    cities = sorted(
        ({"city": c or None, "pageviews": n} for c, n in views.items()),
        key=lambda row: (-row["pageviews"], row["city"] or ""),
    )[:limit]
    visits = _grouped(await grouped(("visits.total",), "country"), "visits.total")
    visit_countries = sorted(
        ({"country": c or None, "visits": n} for c, n in visits.items()),
        key=lambda row: (-row["visits"], row["country"] or ""),
    )[:limit]
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": org.currency,
        "topCountries": countries,
        "topCities": cities,
        "topVisitCountries": visit_countries,
    }


QUALITY = (
    "calls.total",
    "calls.mos_avg",
    "calls.latency_avg",
    "calls.jitter_avg",
    "calls.packet_loss_avg",
    "calls.reconnected",
    "events.quality_degraded",
)


@router.get("/quality", summary="Call quality: MOS, latency, jitter, packet loss")
async def quality(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    start: FromParam = None,
    end: ToParam = None,
) -> dict[str, Any]:
    principal.require(Scope.ANALYTICS_READ)
    org = await _org(session, principal.org_id)
    start, end = _range(start, end)
    analytics = _analytics(session, org.id, cache, settings)
    tz = zone(org.timezone)
    totals = await analytics.totals(QUALITY, start, end, tz=tz, compare=True)
    labels = await analytics.series(
        SeriesSpec(("calls.total",), "year", start, end, tz, group_by="quality", compare=False)
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "metrics": {
            name: {k: v[k] for k in ("total", "previous_total", "growth")}
            for name, v in totals.items()
        },
        "distribution": {k or "unrated": v for k, v in _grouped(labels, "calls.total").items()},
    }


REVENUE = ("revenue.topups", "revenue.call_charges", "revenue.charges", "revenue.refunds")


@router.get("/revenue", summary="Revenue from the ledger")
async def revenue(
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
    interval: Annotated[str, Query(max_length=5)] = "day",
    start: FromParam = None,
    end: ToParam = None,
) -> dict[str, Any]:
    """Top-ups (money in), charges and refunds per interval in minor units, as the seed's
    monthly revenue report. MRR and ARR are null until subscriptions exist."""
    query = SeriesQuery(",".join(REVENUE), interval, start, end)
    result = await _series(principal, session, cache, settings, query, compare=True)
    org = await _org(session, principal.org_id)
    return {**result, "currency": org.currency, "mrr": None, "arr": None}


ALL_TIME = datetime(2000, 1, 1, tzinfo=UTC)
COMPANY = {
    "totalCalls": "calls.total",
    "totalDuration": "calls.duration",
    "averageCallDuration": "calls.duration_avg",
    "averageRating": "calls.rating_avg",
    "totalRevenue": "revenue.topups",
    "successRate": "calls.success_rate",
    "responseTime": "calls.response_time_avg",
}
USER = {
    "totalCalls": "calls.total",
    "totalVideoCalls": "calls.video",
    "totalCallDuration": "calls.duration",
    "averageCallDuration": "calls.duration_avg",
    "averageRating": "calls.rating_avg",
    "reviewCount": "calls.reviewed",
    "successRate": "calls.success_rate",
    "responseTime": "calls.response_time_avg",
}


async def _aggregates(
    analytics: Analytics,
    mapping: dict[str, str],
    org: Organization,
    where: tuple[str, str] | None = None,
) -> dict[str, Any]:
    start = ALL_TIME
    totals = await analytics.totals(
        list(dict.fromkeys(mapping.values())),
        start,
        utcnow() + timedelta(microseconds=1),
        tz=zone(org.timezone),
        where=where,
    )
    return {key: totals[name]["total"] for key, name in mapping.items()}


@router.get("/company", summary="The organization's all-time aggregates (Henvid's Company)")
async def company(
    principal: CurrentPrincipal, session: DbSession, cache: AppCache, settings: AppSettings
) -> dict[str, Any]:
    principal.require(Scope.ANALYTICS_READ)
    org = await _org(session, principal.org_id)
    analytics = _analytics(session, org.id, cache, settings)
    return await _aggregates(analytics, COMPANY, org)


@router.get("/users/{user_id}", summary="One member's all-time call aggregates")
async def user_aggregates(
    user_id: Id,
    principal: CurrentPrincipal,
    session: DbSession,
    cache: AppCache,
    settings: AppSettings,
) -> dict[str, Any]:
    principal.require(Scope.ANALYTICS_READ)
    org = await _org(session, principal.org_id)
    member = await session.scalar(
        select(Membership.id).where(Membership.org_id == org.id, Membership.user_id == user_id)
    )
    if member is None:
        raise NotFound("No such member", user_id=user_id)
    analytics = _analytics(session, org.id, cache, settings)
    values = await _aggregates(analytics, USER, org, where=("user", user_id))
    return {"user_id": user_id, **values}


# ------------------------------------------------------------------ metrics


def _custom_read(row: CustomMetric, ready: set[str]) -> MetricRead:
    metric = custom.as_metric(row)
    return MetricRead(
        **metric.describe(),
        id=row.id,
        event_type=row.event_type,
        field=row.field,
        filters=row.filters,
        rolled_up=metric.name in ready,
    )


@router.get("/metrics", response_model=list[MetricRead], summary="Every metric you can query")
async def list_metrics(principal: CurrentPrincipal, session: DbSession) -> list[MetricRead]:
    principal.require(Scope.ANALYTICS_READ)
    declared = [MetricRead(**metric.describe()) for metric in registered().values()]
    _, ready = await custom.load(session, principal.org_id)
    rows = await session.scalars(
        select(CustomMetric)
        .where(CustomMetric.org_id == principal.org_id)
        .order_by(CustomMetric.name)
    )
    return declared + [_custom_read(row, ready) for row in rows]


def _check_definition(row: CustomMetric) -> None:
    metric = custom.as_metric(row)  # raises ValidationFailed on a bad definition
    if metric.aggregate in ("sum", "avg", "distinct") and not row.field:
        raise invalid(f"A {metric.aggregate} metric needs a field", "field", location="body")


async def _custom_row(session: DbSession, org_id: str, name: str) -> CustomMetric:
    short = name.removeprefix(custom.PREFIX)
    row = await session.scalar(
        select(CustomMetric).where(CustomMetric.org_id == org_id, CustomMetric.name == short)
    )
    if row is None:
        raise NotFound("No such custom metric", metric=name)
    return row


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
    exists = await session.scalar(
        select(CustomMetric.id).where(
            CustomMetric.org_id == principal.org_id, CustomMetric.name == body.name
        )
    )
    if exists is not None:
        raise AlreadyExists(f"A custom metric named {body.name!r} exists", metric=body.name)
    row = CustomMetric(
        org_id=principal.org_id,
        name=body.name,
        description=body.description,
        event_type=body.event_type,
        aggregate=body.aggregate,
        field=body.field,
        filters=[f.model_dump() for f in body.filters],
        dimensions=body.dimensions,
        unit=body.unit,
        created_by=principal.user_id,
    )
    _check_definition(row)
    session.add(row)
    await session.flush()
    return _custom_read(row, set())


@router.patch("/metrics/{name}", response_model=MetricRead, summary="Change a custom metric")
async def update_metric(
    name: Id, body: CustomMetricUpdate, principal: CurrentPrincipal, session: DbSession
) -> MetricRead:
    principal.require(Scope.ANALYTICS_WRITE)
    row = await _custom_row(session, principal.org_id, name)
    changes = body.model_dump(exclude_unset=True)
    if "filters" in changes and body.filters is not None:
        changes["filters"] = [f.model_dump() for f in body.filters]
    for key, value in changes.items():
        if value is None and key in ("event_type", "aggregate", "filters", "dimensions", "unit"):
            raise invalid(f"`{key}` cannot be null", key, location="body")
        setattr(row, key, value)
    _check_definition(row)
    await session.flush()
    await mark_custom_stale(session, row)  # rollups are rebuilt by the next fold
    await session.refresh(row)
    return _custom_read(row, set())


@router.delete(
    "/metrics/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a custom metric"
)
async def delete_metric(name: Id, principal: CurrentPrincipal, session: DbSession) -> Response:
    principal.require(Scope.ANALYTICS_WRITE)
    row = await _custom_row(session, principal.org_id, name)
    await mark_custom_stale(session, row)
    await session.delete(row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------ snapshots


def _snapshot_read(row: Snapshot) -> SnapshotRead:
    read = SnapshotRead.model_validate(row)
    read.account_id = row.account_id or None
    return read


@router.get("/snapshots", response_model=Page[SnapshotRead], summary="Stored snapshots")
async def list_snapshots(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageQuery,
    type_: Annotated[str | None, Query(alias="type", max_length=10)] = None,
    account_id: AccountParam = None,
    start: FromParam = None,
    end: ToParam = None,
) -> Page[SnapshotRead]:
    principal.require(Scope.ANALYTICS_READ)
    statement = _snapshot_query(principal.org_id, type_, account_id, start, end)
    rows, cursor = await paginate(session, statement, id_column=Snapshot.id, params=page)
    return Page(data=[_snapshot_read(r) for r in rows], next_cursor=cursor)


def _snapshot_query(
    org_id: str,
    type_: str | None,
    account_id: str | None,
    start: datetime | None,
    end: datetime | None,
) -> Any:
    if type_ is not None and type_ not in snapshots.SCHEDULES:
        raise invalid(f"`type` is one of {', '.join(snapshots.SCHEDULES)}", "type")
    statement = select(Snapshot).where(Snapshot.org_id == org_id)
    if type_:
        statement = statement.where(Snapshot.snapshot_type == type_)
    if account_id is not None:
        statement = statement.where(Snapshot.account_id == account_id)
    if start is not None:
        statement = statement.where(Snapshot.period_start >= _aware(start, "from"))
    if end is not None:
        statement = statement.where(Snapshot.period_start < _aware(end, "to"))
    return statement


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, out)
    else:
        out[prefix] = value


@router.get("/snapshots.csv", summary="Snapshots as CSV", response_class=StreamingResponse)
async def snapshots_csv(
    principal: CurrentPrincipal,
    database: AppDatabase,
    session: DbSession,
    type_: Annotated[str | None, Query(alias="type", max_length=10)] = None,
    account_id: AccountParam = None,
    start: FromParam = None,
    end: ToParam = None,
) -> StreamingResponse:
    """One row per snapshot, one column per metric (``calls.total``, ...), oldest first,
    read from the database in batches while the response streams."""
    principal.require(Scope.ANALYTICS_READ)
    statement = _snapshot_query(principal.org_id, type_, account_id, start, end).order_by(
        Snapshot.period_start, Snapshot.account_id
    )
    columns: list[str] = []
    for entries_name, entries in sections().items():
        columns += [f"{entries_name}.{key}" for key in entries]
    header = ["date", "type", "account_id", "period_start", "period_end", *columns]

    async def rows() -> AsyncIterator[list[Any]]:
        async with database.sessionmaker() as reader:
            result = await reader.stream_scalars(statement.execution_options(yield_per=500))
            async for row in result:
                flat: dict[str, Any] = {}
                _flatten("", row.metrics, flat)
                yield [
                    row.date.isoformat(),
                    row.snapshot_type,
                    row.account_id,
                    row.period_start.isoformat(),
                    row.period_end.isoformat(),
                    *(flat.get(c, "") for c in columns),
                ]

    return csv_response(header, rows(), "snapshots.csv")


@router.post(
    "/snapshots",
    response_model=SnapshotRead,
    status_code=status.HTTP_201_CREATED,
    summary="Generate (or regenerate) a snapshot now",
)
async def create_snapshot(
    body: SnapshotCreate, principal: CurrentPrincipal, session: DbSession
) -> SnapshotRead:
    principal.require(Scope.ANALYTICS_WRITE)
    org = await _org(session, principal.org_id)
    tz = zone(org.timezone)
    if body.date is None:
        _, moment = snapshots.due_period(body.type, utcnow(), tz)
    else:
        local = datetime.combine(body.date, time(body.hour or 0)).replace(tzinfo=tz)
        moment = local.astimezone(UTC)
    row = await snapshots.generate(session, org, body.type, moment, account=body.account_id)
    return _snapshot_read(row)


# ------------------------------------------------------------------ health


ANALYTICS_JOBS = (
    "analytics.rollup",
    "analytics.hourly_snapshot",
    "analytics.daily_snapshot",
    "analytics.weekly_snapshot",
    "analytics.monthly_snapshot",
    "analytics.yearly_snapshot",
    "analytics.check_alerts",
)


@router.get("/health", summary="Are snapshots and rollups current?")
async def health(principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    """The seed's health check (latest snapshot under 24 hours old), plus the last run
    and last success of each analytics job and how far behind each rollup is."""
    principal.require(Scope.ANALYTICS_READ)
    now = utcnow()
    latest = await snapshots.latest(session, principal.org_id)
    jobs: dict[str, Any] = {}
    for name in ANALYTICS_JOBS:
        last_success = await session.scalar(
            select(func.max(JobRun.finished_at)).where(
                JobRun.job_name == name, JobRun.status == "succeeded"
            )
        )
        last = await session.scalar(
            select(JobRun)
            .where(JobRun.job_name == name)
            .order_by(JobRun.started_at.desc())
            .limit(1)
        )
        jobs[name] = {
            "last_success_at": last_success.isoformat() if last_success else None,
            "last_run_at": last.started_at.isoformat() if last else None,
            "last_status": last.status if last else None,
        }
    marks = await session.execute(select(Watermark.source, Watermark.position))
    rollups = {
        source: {
            "watermark": position.isoformat(),
            "behind_s": int((now - position).total_seconds()),
        }
        for source, position in marks
    }
    fresh = latest is not None and now - latest.updated_at < timedelta(hours=24)
    return {
        "healthy": fresh,
        "latest_snapshot": (
            {
                "id": latest.id,
                "type": latest.snapshot_type,
                "date": latest.date.isoformat(),
                "generated_at": latest.updated_at.isoformat(),
                "age_s": int((now - latest.updated_at).total_seconds()),
            }
            if latest
            else None
        ),
        "jobs": jobs,
        "rollups": rollups,
    }
